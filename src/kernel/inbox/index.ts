/** Kernel inbox: processed event ids per consumer, in the module's own database (see inbox.ts). */
export { Inbox, inboxMigration, DEFAULT_INBOX_RETENTION_MS } from "./inbox.ts";
