import { migratePostgres, openPostgres, PostgresOutbox, type Logger, type PgSql } from "../../../kernel/index.ts";
import { PaymentEvents } from "../contract/index.ts";
import { statusChanged } from "./events.ts";
import { PAYMENT_PG_MIGRATIONS } from "./migrations.pg.ts";
import type { CommandOutcome, PaymentRecord, PaymentStatus, PaymentStore, TransitionPatch } from "./types.ts";

interface Row extends Omit<PaymentRecord, "createdAt" | "updatedAt"> {
  createdAt: Date;
  updatedAt: Date;
}

const COLUMNS = `id, order_id AS "orderId", account_id AS "accountId", amount_cents AS "amountCents", currency, status,
  provider_ref AS "providerRef", failure_reason AS "failureReason", created_at AS "createdAt", updated_at AS "updatedAt"`;

const toRecord = (r: Row): PaymentRecord => ({ ...r, createdAt: r.createdAt.toISOString(), updatedAt: r.updatedAt.toISOString() });

/**
 * Opens a pool on the payment database, migrates it and returns a store on it.
 * @throws MigrationError / the driver's error; the pool is closed on failure.
 */
export async function openPostgresPaymentStore(url: string, opts: { poolMax: number; logger?: Logger }): Promise<PostgresPaymentStore> {
  const sql = openPostgres(url, opts);
  try {
    await migratePostgres(sql, PAYMENT_PG_MIGRATIONS);
  } catch (err) {
    await sql.end({ timeout: 5 });
    throw err;
  }
  return new PostgresPaymentStore(sql);
}

/** {@link PaymentStore} on a PostgreSQL pool; a transition locks the payment row (`FOR UPDATE`). */
export class PostgresPaymentStore implements PaymentStore {
  readonly outbox: PostgresOutbox;

  constructor(readonly sql: PgSql) {
    this.outbox = new PostgresOutbox(sql);
  }

  async insert(p: PaymentRecord): Promise<{ payment: PaymentRecord; created: boolean }> {
    const created = await this.sql.begin(async (tx) => {
      const r = await tx`
        INSERT INTO payments (id, order_id, account_id, amount_cents, currency, status, provider_ref, failure_reason, created_at, updated_at)
        VALUES (${p.id}, ${p.orderId}, ${p.accountId}, ${p.amountCents}, ${p.currency}, ${p.status}, ${p.providerRef}, ${p.failureReason}, ${p.createdAt}, ${p.updatedAt})
        ON CONFLICT (id) DO NOTHING`;
      if (r.count > 0) await this.outbox.add(tx, PaymentEvents.statusChanged, statusChanged(p, null));
      return r.count > 0;
    });
    if (created) void this.outbox.committed([PaymentEvents.statusChanged]);
    return { payment: (await this.byId(p.id)) as PaymentRecord, created };
  }

  async transition(
    id: string,
    from: readonly PaymentStatus[],
    to: PaymentStatus,
    patch: TransitionPatch = {},
  ): Promise<PaymentRecord | null> {
    const next = await this.sql.begin(async (tx) => {
      const [row] = await tx.unsafe<Row[]>(`SELECT ${COLUMNS} FROM payments WHERE id = $1 FOR UPDATE`, [id]);
      if (!row || !from.includes(row.status)) return null;
      const current = toRecord(row);
      const now = new Date().toISOString();
      const rec: PaymentRecord = {
        ...current,
        status: to,
        providerRef: patch.providerRef !== undefined ? patch.providerRef : current.providerRef,
        failureReason: patch.failureReason !== undefined ? patch.failureReason : current.failureReason,
        updatedAt: now,
      };
      await tx`UPDATE payments SET status = ${rec.status}, provider_ref = ${rec.providerRef}, failure_reason = ${rec.failureReason}, updated_at = ${now} WHERE id = ${id}`;
      await this.outbox.add(tx, PaymentEvents.statusChanged, statusChanged(rec, current.status));
      return rec;
    });
    if (next) void this.outbox.committed([PaymentEvents.statusChanged]);
    return next;
  }

  async byId(id: string): Promise<PaymentRecord | null> {
    const [row] = await this.sql.unsafe<Row[]>(`SELECT ${COLUMNS} FROM payments WHERE id = $1`, [id]);
    return row ? toRecord(row) : null;
  }

  async latestForOrder(orderId: string): Promise<PaymentRecord | null> {
    const [row] = await this.sql.unsafe<Row[]>(`SELECT ${COLUMNS} FROM payments WHERE order_id = $1 ORDER BY seq DESC LIMIT 1`, [orderId]);
    return row ? toRecord(row) : null;
  }

  async outcome(idempotencyKey: string): Promise<CommandOutcome | null> {
    const [row] = await this.sql<
      { outcome: CommandOutcome }[]
    >`SELECT outcome FROM payment_commands WHERE idempotency_key = ${idempotencyKey}`;
    return row?.outcome ?? null;
  }

  async saveOutcome(idempotencyKey: string, command: string, paymentId: string, outcome: CommandOutcome): Promise<void> {
    await this.sql`
      INSERT INTO payment_commands (idempotency_key, command, payment_id, outcome)
      VALUES (${idempotencyKey}, ${command}, ${paymentId}, ${this.sql.json(outcome as never)}) ON CONFLICT DO NOTHING`;
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}
