import type { Database } from "../../../kernel/index.ts";
import { GroupCommit } from "../../../kernel/storage/group-commit.ts";
import {
  pendingLimitExceeded,
  type PendingLimit,
  type SagaAdvance,
  type SagaRecord,
  type SagaStep,
  type SagaStore,
  type StaleIntent,
} from "./saga.ts";

const COLUMNS = `order_id AS orderId, payment_id AS paymentId, account_id AS accountId, token, amount_cents AS amountCents,
  currency, step, status, failure_code AS failureCode, failure_message AS failureMessage, authorize_key AS authorizeKey,
  capture_key AS captureKey, void_key AS voidKey, refund_key AS refundKey, attempts, lease_until AS leaseUntil,
  created_at AS createdAt, updated_at AS updatedAt`;

/**
 * An account's unpaid orders: PENDING ones plus those being placed (intent, no order yet, not
 * swept: a swept intent's order can never be written).
 */
// Each side counts at most ?2 (= the limit) rows: the check only needs to know whether the
// limit is reached, and an account's checkout must not cost more the more it has pending.
const PENDING_COUNT_SQL = `SELECT (SELECT count(*) FROM (SELECT 1 FROM orders WHERE account_id = ?1 AND status = 'PENDING' LIMIT ?2))
  + (SELECT count(*) FROM (SELECT 1 FROM reservation_intents i WHERE i.account_id = ?1 AND i.swept_at IS NULL AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = i.order_id) LIMIT ?2)) AS n`;

/** {@link SagaStore} on the order module's SQLite database (the order store's connection). */
export class SqliteSagaStore implements SagaStore {
  constructor(private readonly db: Database) {
    this.#intents = new GroupCommit(db, (orderId: string, limit: PendingLimit | undefined) => {
      // Counted and inserted in one write transaction (BEGIN IMMEDIATE, batches run in order):
      // no other intent or order of any process on this file can come in between.
      if (limit) {
        const n = db.query<{ n: number }, [string, number]>(PENDING_COUNT_SQL).get(limit.accountId, limit.maxPending)?.n ?? 0;
        if (n >= limit.maxPending) throw pendingLimitExceeded(limit.maxPending, n);
      }
      db.query("INSERT INTO reservation_intents (order_id, created_at, account_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING").run(
        orderId,
        new Date().toISOString(),
        limit?.accountId ?? null,
      );
    });
  }

  async start(s: SagaRecord): Promise<{ saga: SagaRecord; created: boolean }> {
    const r = this.db
      .query(
        `INSERT INTO payment_sagas (order_id, payment_id, account_id, token, amount_cents, currency, step, status, failure_code, failure_message,
           authorize_key, capture_key, void_key, refund_key, attempts, lease_until, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO NOTHING`,
      )
      .run(
        s.orderId,
        s.paymentId,
        s.accountId,
        s.token,
        s.amountCents,
        s.currency,
        s.step,
        s.status,
        s.failureCode,
        s.failureMessage,
        s.authorizeKey,
        s.captureKey,
        s.voidKey,
        s.refundKey,
        s.attempts,
        s.leaseUntil,
        s.createdAt,
        s.updatedAt,
      );
    return { saga: (await this.get(s.orderId)) as SagaRecord, created: r.changes > 0 };
  }

  async get(orderId: string): Promise<SagaRecord | null> {
    return this.db.query<SagaRecord, [string]>(`SELECT ${COLUMNS} FROM payment_sagas WHERE order_id = ?`).get(orderId);
  }

  async advance(orderId: string, fromStep: SagaStep, next: SagaAdvance, leaseUntil: number): Promise<SagaRecord | null> {
    const r = this.db
      .query(
        `UPDATE payment_sagas SET step = ?, status = ?, failure_code = coalesce(?, failure_code), failure_message = coalesce(?, failure_message),
           attempts = 0, lease_until = ?, updated_at = ? WHERE order_id = ? AND step = ?`,
      )
      .run(
        next.step,
        next.status,
        next.failureCode ?? null,
        next.failureMessage ?? null,
        leaseUntil,
        new Date().toISOString(),
        orderId,
        fromStep,
      );
    return r.changes > 0 ? this.get(orderId) : null;
  }

  async failedAttempt(orderId: string, leaseUntil: number): Promise<void> {
    this.db
      .query("UPDATE payment_sagas SET attempts = attempts + 1, lease_until = ?, updated_at = ? WHERE order_id = ?")
      .run(leaseUntil, new Date().toISOString(), orderId);
  }

  async claim(orderId: string, now: number, leaseUntil: number): Promise<boolean> {
    return (
      this.db
        .query("UPDATE payment_sagas SET lease_until = ? WHERE order_id = ? AND lease_until < ? AND step <> 'DONE'")
        .run(leaseUntil, orderId, now).changes > 0
    );
  }

  async unfinished(now: number, limit: number): Promise<SagaRecord[]> {
    return this.db
      .query<SagaRecord, [number, number]>(
        `SELECT ${COLUMNS} FROM payment_sagas WHERE status IN ('RUNNING', 'COMPENSATING') AND lease_until < ? ORDER BY created_at LIMIT ?`,
      )
      .all(now, limit);
  }

  async unpaidBefore(cutoff: string, limit: number): Promise<string[]> {
    return this.db
      .query<{ id: string }, [string, number]>(
        `SELECT id FROM orders o WHERE status = 'PENDING' AND created_at < ?
         AND NOT EXISTS (SELECT 1 FROM payment_sagas s WHERE s.order_id = o.id) ORDER BY created_at LIMIT ?`,
      )
      .all(cutoff, limit)
      .map((r) => r.id);
  }

  /**
   * Group commit (kernel/storage/group-commit.ts): the intents of all checkouts that reach this
   * point in one event-loop turn are inserted in one transaction (under 50 concurrent
   * createOrders, ~30 per commit instead of a commit each). The promise resolves once the
   * intent is committed, as before, so the reservation is still requested only after its intent
   * is durable; if the commit fails, every intent of that batch rejects with the driver's error
   * (none was written, and those checkouts fail before reserving anything).
   * Measured: createOrder/s +30%, server CPU per order -24% (orders benchmark, SQLite), far
   * more than the commits saved: the checkouts of a turn then also run their later steps
   * (reservation, order write, replies) together, one after the other.
   */
  readonly #intents: GroupCommit<[string, PendingLimit | undefined], void>;

  addIntent(orderId: string, pending?: PendingLimit): Promise<void> {
    return this.#intents.submit(orderId, pending);
  }

  async dropIntent(orderId: string): Promise<void> {
    this.db.query("DELETE FROM reservation_intents WHERE order_id = ?").run(orderId);
  }

  async staleIntents(olderThanMs: number, limit: number): Promise<StaleIntent[]> {
    // created_at is this process's clock (addIntent), so the cutoff is too.
    const cutoff = new Date(Date.now() - olderThanMs).toISOString();
    return this.db
      .query<{ orderId: string; orderExists: number; swept: number }, [string, number]>(
        `SELECT i.order_id AS orderId, EXISTS (SELECT 1 FROM orders o WHERE o.id = i.order_id) AS orderExists, i.swept_at IS NOT NULL AS swept
         FROM reservation_intents i WHERE i.created_at < ?1 OR i.swept_at IS NOT NULL ORDER BY i.created_at LIMIT ?2`,
      )
      .all(cutoff, limit)
      .map((r) => ({ orderId: r.orderId, orderExists: r.orderExists === 1, swept: r.swept === 1 }));
  }

  async sweepIntent(orderId: string): Promise<boolean> {
    // One statement, one write lock: it cannot interleave with the order's transaction.
    return (
      this.db
        .query(
          "UPDATE reservation_intents SET swept_at = ?1 WHERE order_id = ?2 AND swept_at IS NULL AND NOT EXISTS (SELECT 1 FROM orders WHERE id = ?2)",
        )
        .run(new Date().toISOString(), orderId).changes > 0
    );
  }
}
