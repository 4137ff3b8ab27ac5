import { type Kysely, sql } from "kysely";
import type { Headers } from "../bus/types.ts";
import type { ModuleDb, SqlDialect, SqlExecutor } from "../storage/database.ts";
import { injectTraceHeaders } from "../tracing.ts";
import { parseHeaders, type OutboxEvent, type OutboxNotify, type OutboxRecord, type OutboxSource } from "./types.ts";

interface Row {
  seq: number;
  eventId: string;
  subject: string;
  payload: string;
  headers: string | null;
}

/**
 * The outbox of a module database (table from `outboxMigration`), SQLite or PostgreSQL. `add`
 * runs in the module's write transaction; after the commit the store calls `committed`, which
 * wakes the relay.
 *
 * Relaying differs per database. PostgreSQL: several instances may relay the same table, so a
 * batch is claimed with `FOR UPDATE SKIP LOCKED` and marked in the same transaction (a row is
 * published by one relay at a time; a relay that dies mid-batch releases its claim with its
 * connection and the rows are published again, same event ids). SQLite: one writer process,
 * no claiming, and no transaction held across the publishes (it would hold the connection).
 *
 * @typeParam DB the module's tables (the outbox queries its own table with plain SQL).
 */
export class Outbox<DB> implements OutboxSource, OutboxNotify {
  readonly #db: Kysely<DB>;
  readonly #dialect: SqlDialect;
  #listener: ((subjects: readonly string[]) => Promise<void>) | undefined;

  constructor(mdb: ModuleDb<DB>) {
    this.#db = mdb.db;
    this.#dialect = mdb.dialect;
  }

  setListener(listener: (subjects: readonly string[]) => Promise<void>): void {
    this.#listener = listener;
  }

  committed(subjects: readonly string[]): Promise<void> {
    return this.#listener?.(subjects) ?? Promise.resolve();
  }

  /**
   * Stores `event` (JSON) for publication on `subject`, in transaction `trx`; the active trace
   * context travels with it (its consumers join the trace).
   * @throws Error when `trx` is not a transaction (the event would not be atomic with the state
   *   change); the driver's error on a duplicate `eventId`.
   */
  async add(trx: SqlExecutor, subject: string, event: OutboxEvent, headers: Headers = {}): Promise<void> {
    if (!trx.isTransaction) throw new Error("outbox.add must run inside the transaction of the state change");
    const h = JSON.stringify(injectTraceHeaders({ ...headers }));
    await sql`INSERT INTO outbox (event_id, subject, payload, headers, created_at)
      VALUES (${event.eventId}, ${subject}, ${JSON.stringify(event)}, ${h}, ${new Date().toISOString()})`.execute(trx);
  }

  async relayBatch(limit: number, publish: (record: OutboxRecord) => Promise<void>): Promise<number> {
    let failure: unknown;
    const run = async (ex: Kysely<DB>): Promise<number> => {
      const claim = this.#dialect === "postgres" ? sql` FOR UPDATE SKIP LOCKED` : sql``;
      const { rows } = await sql<Row>`SELECT seq, event_id AS "eventId", subject, payload, headers FROM outbox
        WHERE sent_at IS NULL ORDER BY seq LIMIT ${limit}${claim}`.execute(ex);
      const done: number[] = [];
      for (const r of rows) {
        try {
          await publish({
            seq: Number(r.seq),
            eventId: r.eventId,
            subject: r.subject,
            payload: r.payload,
            headers: parseHeaders(r.headers),
          });
        } catch (err) {
          failure = err;
          break;
        }
        done.push(Number(r.seq));
      }
      // One statement for the batch rather than one per row: a crash between the publishes and
      // this mark re-publishes at most this batch, with the same event ids, which JetStream and
      // consumers deduplicate (see OutboxSource). The ids travel as one JSON array parameter.
      if (done.length > 0) {
        const ids = JSON.stringify(done);
        const seqs =
          this.#dialect === "postgres"
            ? sql`SELECT jsonb_array_elements_text(${ids}::jsonb)::bigint`
            : sql`SELECT value FROM json_each(${ids})`;
        await sql`UPDATE outbox SET sent_at = ${new Date().toISOString()} WHERE seq IN (${seqs})`.execute(ex);
      }
      return done.length;
    };
    const sent = this.#dialect === "postgres" ? await this.#db.transaction().execute(run) : await run(this.#db);
    if (failure !== undefined) throw failure;
    return sent;
  }

  async prune(olderThanMs: number): Promise<number> {
    const cutoff = new Date(Date.now() - olderThanMs).toISOString();
    const r = await sql`DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ${cutoff}`.execute(this.#db);
    return Number(r.numAffectedRows ?? 0);
  }

  async pending(): Promise<number> {
    const { rows } = await sql<{ n: number }>`SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL`.execute(this.#db);
    return Number(rows[0]?.n ?? 0);
  }
}
