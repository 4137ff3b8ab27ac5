import { gatewayOptions } from "./gateway/options.ts";
import {
  type Config,
  type ConfigResult,
  configTable as tableOf,
  declaredOptions,
  helpText as helpOf,
  kernelOptions,
  loadConfig as load,
  type OptionMeta,
  type ParseContext,
  type ValuesOf,
} from "./kernel/config.ts";
import { MODULE_OPTIONS, MODULES } from "./module-list.ts";

export { ConfigError, isDevelopment, moduleDbEnv } from "./kernel/config.ts";

/**
 * The binary's configuration, at the composition root: the kernel's options plus the
 * gateway's and every module's (`src/module-list.ts`), each declared next to its owner's code.
 * `--help`, README's table (tests/kernel/config-readme.test.ts) and the tests' `testConfig`
 * all come from {@link OPTION_SETS}.
 */

/** Option sets besides the kernel's, in `--help` order: the gateway's, then each module's. */
export const OPTION_SETS = [gatewayOptions, ...Object.values(MODULE_OPTIONS)] as const;

/** Every value the binary's config holds: the kernel's config, the gateway's and each module's options. */
export type AppConfig = Config & ValuesOf<typeof OPTION_SETS>;

/** Part names this binary knows: its modules and the gateway. */
export const PARTS: readonly string[] = [...Object.keys(MODULES), "gateway"];

/** Every option of the binary with its declaration (variable, flag, default, ...), in `--help` order. */
export const OPTIONS: readonly (OptionMeta & { key: string; owner: string })[] = declaredOptions([kernelOptions, ...OPTION_SETS]).map(
  (o) => ({
    ...o.meta,
    key: o.path.join("."),
    owner: o.owners.join(", "),
  }),
);

/**
 * Parses the command line and environment into the binary's config (see the kernel's
 * `loadConfig`); `ctx.parts` defaults to {@link PARTS}.
 * @throws ConfigError with one line naming the variable and what is allowed.
 */
export function loadConfig(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  ctx: Partial<ParseContext> = {},
): ConfigResult<AppConfig> {
  return load(argv, env, { parts: ctx.parts ?? PARTS, sets: OPTION_SETS });
}

/** The `--help` text of the binary. */
export const helpText = (ctx: Partial<ParseContext> = {}): string => helpOf({ parts: ctx.parts ?? PARTS, sets: OPTION_SETS });

/** README's "## Configuration" table of the binary. */
export const configTable = (): string => tableOf({ parts: PARTS, sets: OPTION_SETS });
