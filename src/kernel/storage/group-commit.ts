import type { Database } from "bun:sqlite";
import { context, type Context } from "@opentelemetry/api";

/**
 * Group commit on one SQLite connection: the writes submitted during one event-loop turn run
 * in one `BEGIN IMMEDIATE` transaction, flushed at `setImmediate`, each in its own savepoint.
 *
 * Why: a WAL commit writes every page the transaction dirtied; on createOrder's hot path the
 * per-request commits of the order and catalog databases were ~9% of the CPU, and checkouts
 * that arrive together (50 connections) can share them.
 *
 * Semantics per submitted write, as if it ran in its own transaction: its savepoint is rolled
 * back when `run` throws (the promise rejects with that error; the batch's other writes are
 * unaffected); otherwise the promise resolves with `run`'s result once the batch committed.
 * If the batch's transaction itself fails (BEGIN, COMMIT, or an error after which SQLite rolled
 * the whole transaction back: SQLITE_FULL, IOERR, NOMEM, INTERRUPT), every write of the batch
 * rejects with that error and nothing of the batch is written. Writes run in submission order,
 * so a later write sees the earlier ones of its batch, as it would have sequentially. Each
 * write runs in the OpenTelemetry context of its `submit` call (its request's trace: SQL spans
 * and the `traceparent` of outbox events), not in the context of the flush.
 */
export class GroupCommit<A extends unknown[], R> {
  readonly #db: Database;
  readonly #run: (...args: A) => R;
  #pending: { args: A; ctx: Context; resolve: (r: R) => void; reject: (err: unknown) => void }[] = [];

  /**
   * @param db the connection (writes must not hold a transaction open across awaits on it).
   * @param run the write: synchronous statements on `db`, no own transaction (it gets a savepoint).
   */
  constructor(db: Database, run: (...args: A) => R) {
    this.#db = db;
    // db.transaction inside a transaction is a savepoint (bun:sqlite, as better-sqlite3).
    this.#run = db.transaction(run) as unknown as (...args: A) => R;
  }

  /**
   * Queues the write for this turn's batch.
   * @returns `run`'s result once committed; rejects with `run`'s error (rolled back) or the commit's.
   */
  submit(...args: A): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#pending.push({ args, ctx: context.active(), resolve, reject });
      if (this.#pending.length === 1) setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    const batch = this.#pending.splice(0);
    const outcomes: ({ ok: true; value: R } | { ok: false; err: unknown })[] = [];
    try {
      this.#db
        .transaction(() => {
          for (const w of batch) {
            try {
              outcomes.push({ ok: true, value: context.with(w.ctx, () => this.#run(...w.args)) });
            } catch (err) {
              // SQLite rolled the whole transaction back (not just the savepoint): later writes
              // would autocommit one by one; abort the batch instead (all reject, nothing written).
              if (!this.#db.inTransaction) throw err;
              outcomes.push({ ok: false, err });
            }
          }
        })
        .immediate();
    } catch (err) {
      // BEGIN, COMMIT or a transaction-wide rollback: nothing of the batch is written.
      for (const w of batch) w.reject(err);
      return;
    }
    batch.forEach((w, i) => {
      const o = outcomes[i] as { ok: true; value: R } | { ok: false; err: unknown };
      if (o.ok) w.resolve(o.value);
      else w.reject(o.err);
    });
  }
}
