import { defineContract } from "../../../kernel/index.ts";
import { AccountEventTypes } from "./events.ts";
import { AccountCommands } from "./subjects.ts";

/** The account module's public contract: the only account files other modules may import. */
export * from "./subjects.ts";
export * from "./events.ts";
export { ACCOUNT_SDL } from "./schema.ts";

/** The account module's commands and events (what it serves and publishes is derived from them). */
export const AccountContract = defineContract({ commands: AccountCommands, events: AccountEventTypes });
