import { type Context, context } from "@opentelemetry/api";
import { CompiledQuery, type Kysely, type Transaction } from "kysely";

/** A write of a group: statements on `trx` only (no own transaction: it runs in a savepoint). */
export type GroupWrite<DB, R> = (trx: Transaction<DB>) => Promise<R>;

interface Pending<DB> {
  write: GroupWrite<DB, unknown>;
  ctx: Context;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** The savepoint of the write being run: released (or rolled back to and released) before the next one. */
const SAVEPOINT = CompiledQuery.raw("SAVEPOINT group_write");
const RELEASE = CompiledQuery.raw("RELEASE group_write");
const ROLLBACK_TO = CompiledQuery.raw("ROLLBACK TO group_write");

/**
 * Group commit on a module database (SQLite or PostgreSQL): the writes submitted during one
 * event-loop turn run in one transaction, started at `setImmediate`, each in its own savepoint.
 * One batch at a time: writes submitted while a batch runs wait for it to end and then form
 * the next batch together.
 *
 * Why: a commit costs a WAL write and, on PostgreSQL, a WAL flush (fsync) and a round trip;
 * writes that arrive together (checkouts of 50 connections) share one. On SQLite the commits of
 * createOrder's order and catalog databases were ~9% of its CPU.
 *
 * Semantics per submitted write, as if it ran in its own transaction: its savepoint is rolled
 * back when the write throws (the promise rejects with that error; the batch's other writes are
 * unaffected); otherwise the promise resolves with the write's result once the batch committed.
 * If the batch's transaction itself fails (BEGIN, COMMIT, the connection, or an error after
 * which the database rolled the whole transaction back, e.g. SQLite's SQLITE_FULL/IOERR: the
 * rollback to the savepoint then fails too), every write of the batch rejects with that error
 * and nothing of the batch is written. Writes run one after the other in submission order, so a
 * later write sees the earlier ones of its batch, as it would have sequentially. Each write runs
 * in the OpenTelemetry context of its `submit` call (its request's trace: SQL spans and the
 * `traceparent` of outbox events), not in the context of the flush.
 *
 * When to use it (PostgreSQL): for short writes that are independent of each other and touch
 * rows in a consistent order, where commit latency dominates. A batch holds every row lock its
 * writes took until the batch commits (a lock taken in a savepoint that is rolled back is
 * released), so a write waits longer for rows another batch holds; a lock cycle with another
 * transaction is broken by PostgreSQL's deadlock detector, which fails the waiting write's
 * statement (that write rejects alone, its savepoint is rolled back). Do not use it for writes
 * that wait on anything but `trx` (another submit, a bus call, `db` outside `trx`): the batch
 * waits for them, and they may wait for the batch. On SQLite (one connection) the batch holds the
 * connection: other queries of the process wait for the batch, as they wait for any transaction.
 *
 * Why one batch at a time: on PostgreSQL a batch holds every row lock its writes took until it
 * commits. Two batches of one committer running at once (on two pool connections) take the same
 * hot rows (e.g. the products of concurrent checkouts) in interleaved orders and wait on each
 * other; PostgreSQL breaks each cycle only after `deadlock_timeout` (1 s), and the victims' retries
 * meet the next batches: under 50 concurrent checkouts the catalog's throughput collapsed. With
 * one batch in flight, lock cycles remain only between processes (instances) or with writes
 * outside the committer, which the deadlock detector breaks as above. It also makes batches
 * larger while a commit is slow (fewer commits). On SQLite batches were serialised by the one
 * connection anyway; only the queueing point moves.
 */
export class GroupCommitter<DB> {
  readonly #db: Kysely<DB>;
  #pending: Pending<DB>[] = [];
  /** A batch is scheduled or running; writes submitted meanwhile wait for the next one. */
  #busy = false;

  /** @param db the module's Kysely instance (not a transaction). */
  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /**
   * Queues `write` for this turn's batch (or, while a batch runs, for the next one).
   * @returns the write's result once committed; rejects with the write's error (rolled back alone)
   *   or with the batch transaction's error (nothing of the batch written).
   */
  submit<R>(write: GroupWrite<DB, R>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#pending.push({ write, ctx: context.active(), resolve: resolve as (v: unknown) => void, reject });
      if (!this.#busy) this.#schedule();
    });
  }

  /** Runs the next batch at `setImmediate` (the writes of the current turn join it). */
  #schedule(): void {
    this.#busy = true;
    setImmediate(() => {
      void this.#flush(this.#pending.splice(0)).then(() => {
        // Writes submitted while the batch ran form the next batch, with those of the turn it starts in.
        if (this.#pending.length > 0) this.#schedule();
        else this.#busy = false;
      });
    });
  }

  /** Runs `batch` in one transaction and settles its writes' promises; never rejects. */
  async #flush(batch: Pending<DB>[]): Promise<void> {
    const [only] = batch;
    if (batch.length === 1 && only !== undefined) {
      // A lone write needs no savepoint: its own transaction gives the same semantics (a throw
      // rolls everything back and rejects with the write's error) with two statements (round
      // trips on PostgreSQL) fewer, the common case at low concurrency.
      try {
        only.resolve(await this.#db.transaction().execute((trx) => context.with(only.ctx, () => only.write(trx))));
      } catch (err) {
        only.reject(err);
      }
      return;
    }
    const outcomes: ({ ok: true; value: unknown } | { ok: false; err: unknown })[] = [];
    try {
      await this.#db.transaction().execute(async (trx) => {
        for (const w of batch) {
          await trx.executeQuery(SAVEPOINT);
          let value: unknown;
          try {
            value = await context.with(w.ctx, () => w.write(trx));
          } catch (err) {
            try {
              await trx.executeQuery(ROLLBACK_TO);
              await trx.executeQuery(RELEASE);
            } catch {
              // The database rolled the whole transaction back (no savepoint left): the batch
              // fails with the write's error rather than carrying on outside a transaction.
              throw err;
            }
            outcomes.push({ ok: false, err });
            continue;
          }
          await trx.executeQuery(RELEASE);
          outcomes.push({ ok: true, value });
        }
      });
    } catch (err) {
      // BEGIN, COMMIT or a transaction-wide failure: nothing of the batch is written.
      for (const w of batch) w.reject(err);
      return;
    }
    batch.forEach((w, i) => {
      const o = outcomes[i] as { ok: true; value: unknown } | { ok: false; err: unknown };
      if (o.ok) w.resolve(o.value);
      else w.reject(o.err);
    });
  }
}
