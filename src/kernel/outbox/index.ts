/** Transactional outbox (see types.ts): the table, the outbox, and the relay. */
export type { OutboxEvent, OutboxNotify, OutboxRecord, OutboxSource } from "./types.ts";
export { Outbox } from "./outbox.ts";
export { outboxMigration } from "./schema.ts";
export { OutboxRelay, type OutboxRelayOptions } from "./relay.ts";
