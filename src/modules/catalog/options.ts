import { bool, defineOptions, type OptionsOf, option } from "../../kernel/index.ts";

/** The catalog module's options. */
export const catalogOptions = defineOptions("catalog", {
  /** Seed the demo catalog on first start (empty database). */
  seed: option(bool(), {
    env: "SEED",
    flag: "--seed",
    default: "true",
    allowed: "true | false",
    describe: "Seed the demo catalog when the catalog database is empty.",
  }),
});

/** The catalog module's options, typed (`ctx.options`). */
export type CatalogOptions = OptionsOf<typeof catalogOptions>;
