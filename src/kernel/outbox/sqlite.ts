import type { Database } from "bun:sqlite";
import type { Headers } from "../bus/types.ts";
import type { DialectScripts, Migration } from "../storage/migrations.ts";
import { outboxMigration } from "./schema.ts";
import { injectTraceHeaders } from "../tracing.ts";
import { OutboxBase, parseHeaders, type OutboxEvent, type OutboxRecord, type OutboxSource } from "./types.ts";

/**
 * The `outbox` table (SQLite). A module appends this migration to its own list (its next
 * version number), so the table lives in the module's database next to its state.
 */
export function sqliteOutboxMigration(version: number): Migration {
  return {
    version,
    name: "transactional outbox",
    up: (outboxMigration(version).up as DialectScripts).sqlite,
  };
}

/**
 * Outbox on a module's SQLite database. `add` runs inside the module's write transaction;
 * after the commit the store calls `committed`, which wakes the relay. SQLite has one writer
 * process, so the relay needs no row claiming.
 */
export class SqliteOutbox extends OutboxBase implements OutboxSource {
  constructor(private readonly db: Database) {
    super();
  }

  /**
   * Stores `event` (JSON) for publication on `subject`.
   * @throws Error when called outside a transaction (the event would not be atomic with the
   *   state change); the driver's error on a duplicate `eventId`.
   */
  add(subject: string, event: OutboxEvent, headers: Headers = {}): void {
    if (!this.db.inTransaction) throw new Error("outbox.add must run inside the transaction of the state change");
    this.db
      .query("INSERT INTO outbox (event_id, subject, payload, headers, created_at) VALUES (?, ?, ?, ?, ?)")
      // The active trace context travels with the event, so its consumers join this trace.
      .run(event.eventId, subject, JSON.stringify(event), JSON.stringify(injectTraceHeaders({ ...headers })), new Date().toISOString());
  }

  async relayBatch(limit: number, publish: (record: OutboxRecord) => Promise<void>): Promise<number> {
    const rows = this.db
      .query<{ seq: number; eventId: string; subject: string; payload: string; headers: string }, [number]>(
        "SELECT seq, event_id AS eventId, subject, payload, headers FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?",
      )
      .all(limit);
    const done: number[] = [];
    let failure: unknown;
    for (const r of rows) {
      try {
        await publish({ seq: r.seq, eventId: r.eventId, subject: r.subject, payload: r.payload, headers: parseHeaders(r.headers) });
      } catch (err) {
        failure = err;
        break;
      }
      done.push(r.seq);
    }
    // One statement (one commit) for the batch rather than one per row: a crash between the
    // publishes and this mark re-publishes at most this batch, with the same event ids, which
    // JetStream and consumers deduplicate (see OutboxSource).
    if (done.length > 0) {
      this.db
        .query("UPDATE outbox SET sent_at = ? WHERE seq IN (SELECT value FROM json_each(?))")
        .run(new Date().toISOString(), JSON.stringify(done));
    }
    if (failure !== undefined) throw failure;
    return done.length;
  }

  async prune(olderThanMs: number): Promise<number> {
    const cutoff = new Date(Date.now() - olderThanMs).toISOString();
    return this.db.query("DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?").run(cutoff).changes;
  }

  async pending(): Promise<number> {
    return this.db.query<{ n: number }, []>("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL").get()?.n ?? 0;
  }
}
