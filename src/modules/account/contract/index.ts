/** The account module's public contract: the only account files other modules may import. */
export * from "./subjects.ts";
export * from "./events.ts";
export { ACCOUNT_SDL } from "./schema.ts";
