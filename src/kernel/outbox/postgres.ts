import type { Headers } from "../bus/types.ts";
import type { DialectScripts } from "../storage/migrations.ts";
import type { PgMigration, PgSql, PgTx } from "../storage/postgres.ts";
import { outboxMigration } from "./schema.ts";
import { injectTraceHeaders } from "../tracing.ts";
import { OutboxBase, type OutboxEvent, type OutboxRecord, type OutboxSource } from "./types.ts";

/** The `outbox` table (PostgreSQL); a module appends it to its migrations under its next version. */
export function postgresOutboxMigration(version: number): PgMigration {
  return {
    version,
    name: "transactional outbox",
    up: (outboxMigration(version).up as DialectScripts).postgres,
  };
}

/**
 * Outbox on a module's PostgreSQL database. `add` takes the module's transaction handle;
 * after `sql.begin` resolved the store calls `committed`. Several instances relay the same
 * table safely: each batch is claimed with `FOR UPDATE SKIP LOCKED` and marked in the same
 * transaction, so a row is published by one relay at a time (a relay that dies mid-batch
 * releases its claim with its connection, and the rows are published again, same event ids).
 */
export class PostgresOutbox extends OutboxBase implements OutboxSource {
  constructor(private readonly sql: PgSql) {
    super();
  }

  /** Stores `event` (JSON) for publication on `subject`, in transaction `tx`; the active trace context travels with it. */
  async add(tx: PgTx, subject: string, event: OutboxEvent, headers: Headers = {}): Promise<void> {
    await tx`INSERT INTO outbox (event_id, subject, payload, headers) VALUES (${event.eventId}, ${subject}, ${JSON.stringify(event)}, ${tx.json(injectTraceHeaders({ ...headers }) as Record<string, string>)})`;
  }

  async relayBatch(limit: number, publish: (record: OutboxRecord) => Promise<void>): Promise<number> {
    let failure: unknown;
    const sent = await this.sql.begin(async (tx) => {
      const rows = await tx<{ seq: number; eventId: string; subject: string; payload: string; headers: Headers }[]>`
        SELECT seq, event_id AS "eventId", subject, payload, headers FROM outbox
        WHERE sent_at IS NULL ORDER BY seq LIMIT ${limit} FOR UPDATE SKIP LOCKED`;
      const done: number[] = [];
      for (const r of rows) {
        try {
          await publish({ seq: r.seq, eventId: r.eventId, subject: r.subject, payload: r.payload, headers: r.headers ?? {} });
        } catch (err) {
          failure = err;
          break;
        }
        done.push(r.seq);
      }
      if (done.length > 0) await tx`UPDATE outbox SET sent_at = now() WHERE seq = ANY(${tx.array(done)}::bigint[])`;
      return done.length;
    });
    if (failure !== undefined) throw failure;
    return sent;
  }

  async prune(olderThanMs: number): Promise<number> {
    const r = await this
      .sql`DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < now() - ${olderThanMs / 1000} * interval '1 second'`;
    return r.count;
  }

  async pending(): Promise<number> {
    const [row] = await this.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE sent_at IS NULL`;
    return row?.n ?? 0;
  }
}
