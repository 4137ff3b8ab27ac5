import { type Kysely, sql } from "kysely";
import type { ModuleDb, SqlExecutor } from "../storage/database.ts";
import type { Migration } from "../storage/migrations.ts";

/**
 * The `inbox` table as a migration: a module that consumes events appends it to its own list
 * under its next version number (as `outboxMigration`), so the processed ids live in the
 * module's database and are written in the same transaction as the state change.
 */
export function inboxMigration(version: number): Migration {
  return {
    version,
    name: "inbox of processed events",
    up: {
      sqlite: `
        CREATE TABLE inbox (
          consumer TEXT NOT NULL,
          event_id TEXT NOT NULL,
          processed_at TEXT NOT NULL,
          PRIMARY KEY (consumer, event_id)
        ) WITHOUT ROWID;
        -- Pruning scans by age.
        CREATE INDEX inbox_by_age ON inbox (processed_at);
      `,
      postgres: `
        CREATE TABLE inbox (
          consumer text COLLATE "C" NOT NULL,
          event_id text COLLATE "C" NOT NULL,
          processed_at timestamptz NOT NULL,
          PRIMARY KEY (consumer, event_id)
        );
        CREATE INDEX inbox_by_age ON inbox (processed_at);
      `,
    },
  };
}

/**
 * Default of {@link Inbox.prune}'s retention, ms: 7 days. An id must stay far longer than an
 * event can come back: JetStream redelivers an unacknowledged event for at most its ack wait
 * times `max_deliver`, and an outbox republishes after a crash within seconds to minutes.
 */
export const DEFAULT_INBOX_RETENTION_MS = 7 * 24 * 3_600_000;

/**
 * Consumer-side deduplication of at-least-once events (the counterpart of the outbox): a
 * handler records the event id in the same transaction as the state change the event causes,
 * so a redelivered event is recognised and skipped, and a rolled-back change forgets the id
 * (the event will be processed again).
 *
 * ```ts
 * await db.transaction().execute(async (trx) => {
 *   if (!(await inbox.markProcessed(trx, "catalog.order-status", event.eventId))) return; // seen before
 *   ... the state change on trx ...
 * });
 * ```
 *
 * @typeParam DB the module's tables (the inbox queries its own table with plain SQL).
 */
export class Inbox<DB> {
  readonly #db: Kysely<DB>;

  constructor(mdb: ModuleDb<DB>) {
    this.#db = mdb.db;
  }

  /**
   * Records that `consumer` (a stable name per handler, e.g. `catalog.order-status`) processed
   * `eventId`, in transaction `trx`.
   * @returns true the first time; false when the id was recorded before (the event is a repeat:
   *   skip its effects, and commit or roll back as the caller likes).
   * @throws Error when `trx` is not a transaction (the mark would not be atomic with the change).
   */
  async markProcessed(trx: SqlExecutor, consumer: string, eventId: string): Promise<boolean> {
    if (!trx.isTransaction) throw new Error("inbox.markProcessed must run inside the transaction of the state change");
    const r = await sql`INSERT INTO inbox (consumer, event_id, processed_at) VALUES (${consumer}, ${eventId}, ${new Date().toISOString()})
      ON CONFLICT (consumer, event_id) DO NOTHING`.execute(trx);
    return Number(r.numAffectedRows ?? 0) > 0;
  }

  /** Whether `consumer` processed `eventId` (committed marks only). */
  async processed(consumer: string, eventId: string): Promise<boolean> {
    const { rows } = await sql`SELECT 1 AS x FROM inbox WHERE consumer = ${consumer} AND event_id = ${eventId}`.execute(this.#db);
    return rows.length > 0;
  }

  /**
   * Deletes marks older than `olderThanMs` (default {@link DEFAULT_INBOX_RETENTION_MS}); a module
   * calls it from time to time (e.g. hourly), as the outbox relay prunes sent events.
   * @returns rows deleted.
   */
  async prune(olderThanMs: number = DEFAULT_INBOX_RETENTION_MS): Promise<number> {
    const cutoff = new Date(Date.now() - olderThanMs).toISOString();
    const r = await sql`DELETE FROM inbox WHERE processed_at < ${cutoff}`.execute(this.#db);
    return Number(r.numAffectedRows ?? 0);
  }
}
