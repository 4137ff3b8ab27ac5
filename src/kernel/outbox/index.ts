/** Transactional outbox (see types.ts): tables, per-database outboxes, and the relay. */
export { OutboxBase, type OutboxEvent, type OutboxNotify, type OutboxRecord, type OutboxSource } from "./types.ts";
export { Outbox } from "./outbox.ts";
export { outboxMigration } from "./schema.ts";
export { SqliteOutbox, sqliteOutboxMigration } from "./sqlite.ts";
export { PostgresOutbox, postgresOutboxMigration } from "./postgres.ts";
export { OutboxRelay, type OutboxRelayOptions } from "./relay.ts";
