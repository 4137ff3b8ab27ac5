/** The payment module's public contract: the only payment files other modules may import. */
export * from "./subjects.ts";
export * from "./events.ts";
export { PAYMENT_SDL } from "./schema.ts";
