/** The catalog module's public contract: the only catalog file other modules may import. */
export * from "./subjects.ts";
export * from "./events.ts";
export { CATALOG_SDL } from "./schema.ts";
