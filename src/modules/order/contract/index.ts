/** The order module's public contract: the only order files other modules may import. */
export * from "./subjects.ts";
export * from "./events.ts";
export { ORDER_SDL } from "./schema.ts";
