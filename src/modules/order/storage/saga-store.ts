import { type Kysely, type RawBuilder, sql, type Transaction } from "kysely";
import { type GroupCommitter, type ModuleDb, Prepared, type PreparedArg } from "../../../kernel/index.ts";
import {
  type PendingLimit,
  pendingLimitExceeded,
  type SagaAdvance,
  type SagaRecord,
  type SagaStep,
  type SagaStore,
  type StaleIntent,
} from "./saga.ts";
import type { OrderTables } from "./tables.ts";

/** First key of the PostgreSQL advisory locks that serialise one account's checkouts ("ORDR"). */
const PENDING_LOCK_CLASS = 0x4f524452;

const COLUMNS = [
  "order_id as orderId",
  "payment_id as paymentId",
  "account_id as accountId",
  "token",
  "amount_cents as amountCents",
  "currency",
  "step",
  "status",
  "failure_code as failureCode",
  "failure_message as failureMessage",
  "authorize_key as authorizeKey",
  "capture_key as captureKey",
  "void_key as voidKey",
  "refund_key as refundKey",
  "attempts",
  "lease_until as leaseUntil",
  "created_at as createdAt",
  "updated_at as updatedAt",
] as const;

/**
 * An account's unpaid orders (a query fragment): PENDING ones plus those being placed (intent,
 * no order yet, not swept: a swept intent's order can never be written). Each side counts at
 * most `max` (the limit) rows: the check only needs to know whether the limit is reached, and a
 * checkout must not cost more the more the account has pending.
 */
const pendingCount = (accountId: string, max: number): RawBuilder<number> => sql<number>`
  (SELECT count(*) FROM (SELECT 1 FROM orders WHERE account_id = ${accountId} AND status = 'PENDING' LIMIT ${max}) o)
  + (SELECT count(*) FROM (SELECT 1 FROM reservation_intents i WHERE i.account_id = ${accountId} AND i.swept_at IS NULL AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = i.order_id) LIMIT ${max}) i)`;

/** An `addIntent` call waiting for its turn's intent write. */
interface IntentRequest {
  orderId: string;
  pending: PendingLimit | undefined;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * {@link SagaStore} on the order module's database (SQLite or PostgreSQL), sharing the order
 * store's connection and group commit.
 */
export class SqlSagaStore implements SagaStore {
  readonly #db: Kysely<OrderTables>;
  readonly #pg: boolean;
  readonly #group: GroupCommitter<OrderTables>;
  /** The intents of the current turn, not yet taken by their write. */
  #intents: IntentRequest[] | null = null;
  // addIntent's statements, compiled once (see Prepared). Arguments: order id, created_at (ISO;
  // PostgreSQL stamps now() instead), account id, limit.
  readonly #insertIntent: Prepared<unknown>;
  readonly #insertIntentBelowLimit: Prepared<{ order_id: string }>;
  readonly #lockAccount: Prepared<unknown>;

  constructor(mdb: ModuleDb<OrderTables>, group: GroupCommitter<OrderTables>) {
    const db = mdb.db;
    this.#db = db;
    this.#pg = mdb.dialect === "postgres";
    this.#group = group;
    // created_at: PostgreSQL stamps it on its own clock, which staleIntents measures against
    // (app hosts' clocks may differ); SQLite has one host, whose clock the argument is.
    const now = (arg: PreparedArg) => (this.#pg ? sql`now()` : sql`${arg(1)}`);
    this.#insertIntent = new Prepared(
      db,
      (arg) => sql`INSERT INTO reservation_intents (order_id, created_at) VALUES (${arg(0)}, ${now(arg)}) ON CONFLICT DO NOTHING`,
      2,
    );
    this.#insertIntentBelowLimit = new Prepared(
      db,
      (arg) =>
        sql<{ order_id: string }>`INSERT INTO reservation_intents (order_id, created_at, account_id)
          SELECT ${arg(0)}, ${now(arg)}, ${arg(2)}
          WHERE (${pendingCount(arg(2), arg(3))}) < ${arg(3)}
          ON CONFLICT DO NOTHING RETURNING order_id`,
      4,
    );
    this.#lockAccount = new Prepared(db, (arg) => sql`SELECT pg_advisory_xact_lock(${PENDING_LOCK_CLASS}::int4, hashtext(${arg(0)}))`, 1);
  }

  async start(s: SagaRecord): Promise<{ saga: SagaRecord; created: boolean }> {
    const r = await this.#db
      .insertInto("payment_sagas")
      .values({
        order_id: s.orderId,
        payment_id: s.paymentId,
        account_id: s.accountId,
        token: s.token,
        amount_cents: s.amountCents,
        currency: s.currency,
        step: s.step,
        status: s.status,
        failure_code: s.failureCode,
        failure_message: s.failureMessage,
        authorize_key: s.authorizeKey,
        capture_key: s.captureKey,
        void_key: s.voidKey,
        refund_key: s.refundKey,
        attempts: s.attempts,
        lease_until: s.leaseUntil,
        created_at: s.createdAt,
        updated_at: s.updatedAt,
      })
      .onConflict((oc) => oc.column("order_id").doNothing())
      .executeTakeFirst();
    return { saga: (await this.get(s.orderId)) as SagaRecord, created: Number(r.numInsertedOrUpdatedRows ?? 0) > 0 };
  }

  async get(orderId: string): Promise<SagaRecord | null> {
    const row = await this.#db.selectFrom("payment_sagas").select(COLUMNS).where("order_id", "=", orderId).executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  async advance(orderId: string, fromStep: SagaStep, next: SagaAdvance, leaseUntil: number): Promise<SagaRecord | null> {
    const r = await this.#db
      .updateTable("payment_sagas")
      .set({
        step: next.step,
        status: next.status,
        // Kept when not given (null or absent), as coalesce(new, old) did.
        ...(next.failureCode != null ? { failure_code: next.failureCode } : {}),
        ...(next.failureMessage != null ? { failure_message: next.failureMessage } : {}),
        attempts: 0,
        lease_until: leaseUntil,
        updated_at: new Date().toISOString(),
      })
      .where("order_id", "=", orderId)
      .where("step", "=", fromStep)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0 ? this.get(orderId) : null;
  }

  async failedAttempt(orderId: string, leaseUntil: number): Promise<void> {
    await this.#db
      .updateTable("payment_sagas")
      .set((eb) => ({ attempts: eb("attempts", "+", 1), lease_until: leaseUntil, updated_at: new Date().toISOString() }))
      .where("order_id", "=", orderId)
      .execute();
  }

  async claim(orderId: string, now: number, leaseUntil: number): Promise<boolean> {
    const r = await this.#db
      .updateTable("payment_sagas")
      .set({ lease_until: leaseUntil })
      .where("order_id", "=", orderId)
      .where("lease_until", "<", now)
      .where("step", "<>", "DONE")
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async unfinished(now: number, limit: number): Promise<SagaRecord[]> {
    const rows = await this.#db
      .selectFrom("payment_sagas")
      .select(COLUMNS)
      .where("status", "in", ["RUNNING", "COMPENSATING"])
      .where("lease_until", "<", now)
      .orderBy("created_at")
      .limit(limit)
      .execute();
    return rows.map(toRecord);
  }

  async unpaidBefore(cutoff: string, limit: number): Promise<string[]> {
    const rows = await this.#db
      .selectFrom("orders as o")
      .select("o.id")
      .where("o.status", "=", "PENDING")
      .where("o.created_at", "<", cutoff)
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom("payment_sagas as s").select(sql.lit(1).as("one")).whereRef("s.order_id", "=", "o.id"))),
      )
      .orderBy("o.created_at")
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  /**
   * Group commit: the intents of all checkouts that reach this point in one event-loop turn are
   * written by one write of the order store's committer (so they also share the commit of the
   * turn's orders): under 50 concurrent createOrders, ~30 per commit instead of a commit each.
   * The promise resolves once the intent is committed, so the reservation is still requested
   * only after its intent is durable; if the commit fails, every intent of that batch rejects
   * with the driver's error (none was written, and those checkouts fail before reserving anything).
   * The write handles its intents in account order: on PostgreSQL it takes one advisory lock per
   * account (held until the batch commits), so concurrent batches take their locks in the same
   * order and cannot deadlock each other.
   */
  addIntent(orderId: string, pending?: PendingLimit): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const request: IntentRequest = { orderId, pending, resolve, reject };
      if (this.#intents) {
        this.#intents.push(request);
        return;
      }
      const batch = [request];
      this.#intents = batch;
      this.#group
        .submit(async (trx) => {
          // Later calls open the next batch: this write takes what arrived until it runs.
          if (this.#intents === batch) this.#intents = null;
          return this.#writeIntents(trx, batch);
        })
        .then(
          (refused) => {
            for (const [i, r] of batch.entries()) {
              const err = refused[i];
              if (err) r.reject(err);
              else r.resolve();
            }
          },
          (err: unknown) => {
            for (const r of batch) r.reject(err);
          },
        );
    });
  }

  /** Writes a batch of intents; @returns per request the limit error it was refused with, or undefined. */
  async #writeIntents(trx: Transaction<OrderTables>, batch: readonly IntentRequest[]): Promise<(Error | undefined)[]> {
    const refused: (Error | undefined)[] = batch.map(() => undefined);
    // Stable: one account's intents keep their arrival order. No limit sorts first (no lock).
    const order = batch.map((_, i) => i).sort((a, b) => compare(batch[a]?.pending?.accountId, batch[b]?.pending?.accountId));
    let locked: string | undefined;
    for (const i of order) {
      const { orderId, pending } = batch[i] as IntentRequest;
      const createdAt = new Date().toISOString();
      if (!pending) {
        await this.#insertIntent.execute(trx, [orderId, createdAt]);
        continue;
      }
      // Counted and inserted under a lock no other checkout of this account passes until commit:
      // SQLite's writer lock (BEGIN IMMEDIATE), PostgreSQL's advisory lock (every instance). The
      // insert is a later statement, so under READ COMMITTED its snapshot sees every intent and
      // order committed before the lock was granted; store.create swaps intent for order in one
      // transaction, so an order being placed is counted exactly once.
      if (this.#pg && locked !== pending.accountId) {
        await this.#lockAccount.execute(trx, [pending.accountId]);
        locked = pending.accountId;
      }
      const inserted = await this.#insertIntentBelowLimit.execute(trx, [orderId, createdAt, pending.accountId, pending.maxPending]);
      if (inserted.rows.length > 0) continue;
      const counted = await sql<{ n: number }>`SELECT CAST(${pendingCount(pending.accountId, pending.maxPending)} AS integer) AS n`.execute(
        trx,
      );
      const n = Number(counted.rows[0]?.n ?? 0);
      // Below the limit: the intent already existed (a repeated id), which is fine.
      if (n >= pending.maxPending) refused[i] = pendingLimitExceeded(pending.maxPending, n);
    }
    return refused;
  }

  async dropIntent(orderId: string): Promise<void> {
    await this.#db.deleteFrom("reservation_intents").where("order_id", "=", orderId).execute();
  }

  async staleIntents(olderThanMs: number, limit: number): Promise<StaleIntent[]> {
    // PostgreSQL: the database's clock, as it stamped created_at (addIntent). SQLite: this
    // process's clock, which stamped them.
    const cutoff = this.#pg
      ? sql`now() - ${olderThanMs}::float8 * interval '1 millisecond'`
      : sql`${new Date(Date.now() - olderThanMs).toISOString()}`;
    const { rows } = await sql<{ orderId: string; orderExists: number | boolean; swept: number | boolean }>`
      SELECT i.order_id AS "orderId", EXISTS (SELECT 1 FROM orders o WHERE o.id = i.order_id) AS "orderExists", i.swept_at IS NOT NULL AS swept
      FROM reservation_intents i WHERE i.created_at < ${cutoff} OR i.swept_at IS NOT NULL ORDER BY i.created_at LIMIT ${limit}`.execute(
      this.#db,
    );
    return rows.map((r) => ({ orderId: r.orderId, orderExists: Boolean(r.orderExists), swept: Boolean(r.swept) }));
  }

  async sweepIntent(orderId: string): Promise<boolean> {
    // One statement. SQLite: one write lock, it cannot interleave with the order's transaction.
    // PostgreSQL: the order's transaction deletes the intent first (row lock): if it commits,
    // this update finds no row; if this commits first, the order's delete sees swept_at and rolls back.
    const r = await this.#db
      .updateTable("reservation_intents")
      .set({ swept_at: this.#pg ? sql<string>`now()` : new Date().toISOString() })
      .where("order_id", "=", orderId)
      .where("swept_at", "is", null)
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom("orders").select(sql.lit(1).as("one")).where("id", "=", orderId))))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
}

/** Orders account ids, undefined (no limit, no lock) first. */
const compare = (a: string | undefined, b: string | undefined): number =>
  a === b ? 0 : a === undefined ? -1 : b === undefined ? 1 : a < b ? -1 : 1;

type SagaRow = Omit<SagaRecord, "amountCents" | "leaseUntil" | "attempts"> & {
  amountCents: number | string;
  leaseUntil: number | string;
  attempts: number;
};
const toRecord = (r: SagaRow): SagaRecord => ({ ...r, amountCents: Number(r.amountCents), leaseUntil: Number(r.leaseUntil) });
