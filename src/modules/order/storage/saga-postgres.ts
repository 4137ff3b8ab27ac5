import type { PgSql, PgTx } from "../../../kernel/index.ts";
import {
  pendingLimitExceeded,
  type PendingLimit,
  type SagaAdvance,
  type SagaRecord,
  type SagaStep,
  type SagaStore,
  type StaleIntent,
} from "./saga.ts";

/** First key of the advisory locks that serialise one account's checkouts ("ORDR"). */
const PENDING_LOCK_CLASS = 0x4f524452;

const COLUMNS = `order_id AS "orderId", payment_id AS "paymentId", account_id AS "accountId", token, amount_cents AS "amountCents",
  currency, step, status, failure_code AS "failureCode", failure_message AS "failureMessage", authorize_key AS "authorizeKey",
  capture_key AS "captureKey", void_key AS "voidKey", refund_key AS "refundKey", attempts, lease_until AS "leaseUntil",
  created_at AS "createdAt", updated_at AS "updatedAt"`;

type Row = Omit<SagaRecord, "createdAt" | "updatedAt"> & { createdAt: Date; updatedAt: Date };
const toRecord = (r: Row): SagaRecord => ({ ...r, createdAt: r.createdAt.toISOString(), updatedAt: r.updatedAt.toISOString() });

/**
 * An account's unpaid orders (a query fragment): PENDING ones plus those being placed (intent,
 * no order yet, not swept: a swept intent's order can never be written). Each side counts at
 * most `max` (the limit) rows: the check only needs to know whether the limit is reached, and a
 * checkout must not cost more the more the account has pending.
 */
const pendingCount = (tx: PgTx, accountId: string, max: number) => tx`
  (SELECT count(*) FROM (SELECT 1 FROM orders WHERE account_id = ${accountId} AND status = 'PENDING' LIMIT ${max}) o)
  + (SELECT count(*) FROM (SELECT 1 FROM reservation_intents i WHERE i.account_id = ${accountId} AND i.swept_at IS NULL AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = i.order_id) LIMIT ${max}) i)`;

/** {@link SagaStore} on the order module's PostgreSQL pool. */
export class PostgresSagaStore implements SagaStore {
  constructor(private readonly sql: PgSql) {}

  async start(s: SagaRecord): Promise<{ saga: SagaRecord; created: boolean }> {
    const r = await this.sql`
      INSERT INTO payment_sagas (order_id, payment_id, account_id, token, amount_cents, currency, step, status, failure_code, failure_message,
        authorize_key, capture_key, void_key, refund_key, attempts, lease_until, created_at, updated_at)
      VALUES (${s.orderId}, ${s.paymentId}, ${s.accountId}, ${s.token}, ${s.amountCents}, ${s.currency}, ${s.step}, ${s.status}, ${s.failureCode},
        ${s.failureMessage}, ${s.authorizeKey}, ${s.captureKey}, ${s.voidKey}, ${s.refundKey}, ${s.attempts}, ${s.leaseUntil}, ${s.createdAt}, ${s.updatedAt})
      ON CONFLICT (order_id) DO NOTHING`;
    return { saga: (await this.get(s.orderId)) as SagaRecord, created: r.count > 0 };
  }

  async get(orderId: string): Promise<SagaRecord | null> {
    const [row] = await this.sql.unsafe<Row[]>(`SELECT ${COLUMNS} FROM payment_sagas WHERE order_id = $1`, [orderId]);
    return row ? toRecord(row) : null;
  }

  async advance(orderId: string, fromStep: SagaStep, next: SagaAdvance, leaseUntil: number): Promise<SagaRecord | null> {
    const r = await this.sql`
      UPDATE payment_sagas SET step = ${next.step}, status = ${next.status},
        failure_code = coalesce(${next.failureCode ?? null}::text, failure_code), failure_message = coalesce(${next.failureMessage ?? null}::text, failure_message),
        attempts = 0, lease_until = ${leaseUntil}, updated_at = now()
      WHERE order_id = ${orderId} AND step = ${fromStep}`;
    return r.count > 0 ? this.get(orderId) : null;
  }

  async failedAttempt(orderId: string, leaseUntil: number): Promise<void> {
    await this
      .sql`UPDATE payment_sagas SET attempts = attempts + 1, lease_until = ${leaseUntil}, updated_at = now() WHERE order_id = ${orderId}`;
  }

  async claim(orderId: string, now: number, leaseUntil: number): Promise<boolean> {
    const r = await this
      .sql`UPDATE payment_sagas SET lease_until = ${leaseUntil} WHERE order_id = ${orderId} AND lease_until < ${now} AND step <> 'DONE'`;
    return r.count > 0;
  }

  async unfinished(now: number, limit: number): Promise<SagaRecord[]> {
    const rows = await this.sql.unsafe<Row[]>(
      `SELECT ${COLUMNS} FROM payment_sagas WHERE status IN ('RUNNING', 'COMPENSATING') AND lease_until < $1 ORDER BY created_at LIMIT $2`,
      [now, limit],
    );
    return rows.map(toRecord);
  }

  async unpaidBefore(cutoff: string, limit: number): Promise<string[]> {
    const rows = await this.sql<{ id: string }[]>`
      SELECT id FROM orders o WHERE status = 'PENDING' AND created_at < ${cutoff}
      AND NOT EXISTS (SELECT 1 FROM payment_sagas s WHERE s.order_id = o.id) ORDER BY created_at LIMIT ${limit}`;
    return rows.map((r) => r.id);
  }

  async addIntent(orderId: string, pending?: PendingLimit): Promise<void> {
    if (!pending) {
      await this.sql`INSERT INTO reservation_intents (order_id, created_at) VALUES (${orderId}, now()) ON CONFLICT DO NOTHING`;
      return;
    }
    await this.sql.begin(async (tx) => {
      // One account's checkouts queue on this lock (every instance, until commit). The insert
      // below is a later statement, so under READ COMMITTED its snapshot sees every intent and
      // order committed before the lock was granted; store.create swaps intent for order in one
      // transaction, so an order being placed is counted exactly once.
      await tx`SELECT pg_advisory_xact_lock(${PENDING_LOCK_CLASS}::int4, hashtext(${pending.accountId}))`;
      const inserted = await tx`
        INSERT INTO reservation_intents (order_id, created_at, account_id)
        SELECT ${orderId}, now(), ${pending.accountId}
        WHERE (${pendingCount(tx, pending.accountId, pending.maxPending)}) < ${pending.maxPending}
        ON CONFLICT DO NOTHING RETURNING order_id`;
      if (inserted.length > 0) return;
      const [row] = await tx<{ n: number }[]>`SELECT (${pendingCount(tx, pending.accountId, pending.maxPending)})::int AS n`;
      const n = row?.n ?? 0;
      // Below the limit: the intent already existed (a repeated id), which is fine.
      if (n >= pending.maxPending) throw pendingLimitExceeded(pending.maxPending, n);
    });
  }

  async dropIntent(orderId: string): Promise<void> {
    await this.sql`DELETE FROM reservation_intents WHERE order_id = ${orderId}`;
  }

  async staleIntents(olderThanMs: number, limit: number): Promise<StaleIntent[]> {
    // The database's clock, as it stamped created_at (addIntent): app hosts' clocks may differ.
    return await this.sql<StaleIntent[]>`
      SELECT i.order_id AS "orderId", EXISTS (SELECT 1 FROM orders o WHERE o.id = i.order_id) AS "orderExists", i.swept_at IS NOT NULL AS swept
      FROM reservation_intents i
      WHERE i.created_at < now() - ${olderThanMs}::float8 * interval '1 millisecond' OR i.swept_at IS NOT NULL
      ORDER BY i.created_at LIMIT ${limit}`;
  }

  async sweepIntent(orderId: string): Promise<boolean> {
    // The order's transaction deletes the intent first (row lock): if it commits, this update
    // finds no row; if this commits first, the order's delete sees swept_at and rolls back.
    const r = await this.sql`
      UPDATE reservation_intents SET swept_at = now()
      WHERE order_id = ${orderId} AND swept_at IS NULL AND NOT EXISTS (SELECT 1 FROM orders WHERE id = ${orderId})`;
    return r.count > 0;
  }
}
