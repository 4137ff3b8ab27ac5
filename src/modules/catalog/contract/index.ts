import { defineContract } from "../../../kernel/index.ts";
import { CatalogEventTypes } from "./events.ts";
import { CatalogCommands } from "./subjects.ts";

/** The catalog module's public contract: the only catalog file other modules may import. */
export * from "./subjects.ts";
export * from "./events.ts";
export { CATALOG_SDL } from "./schema.ts";

/** The catalog's commands and events (what it serves and publishes is derived from them). */
export const CatalogContract = defineContract({ commands: CatalogCommands, events: CatalogEventTypes });
