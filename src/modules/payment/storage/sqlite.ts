import { migrateSqlite, openSqlite, SqliteOutbox, type Database } from "../../../kernel/index.ts";
import { PaymentEvents } from "../contract/index.ts";
import { statusChanged } from "./events.ts";
import { PAYMENT_MIGRATIONS } from "./migrations.ts";
import type { CommandOutcome, PaymentRecord, PaymentStatus, PaymentStore, TransitionPatch } from "./types.ts";

const COLUMNS = `id, order_id AS orderId, account_id AS accountId, amount_cents AS amountCents, currency, status,
  provider_ref AS providerRef, failure_reason AS failureReason, created_at AS createdAt, updated_at AS updatedAt`;

/**
 * Opens (creating and migrating) the payment database and returns a store on it.
 * @param path database file, or `":memory:"`.
 * @throws MigrationError when the database was migrated by newer code.
 */
export function openSqlitePaymentStore(path: string): SqlitePaymentStore {
  const db = openSqlite(path);
  try {
    migrateSqlite(db, PAYMENT_MIGRATIONS);
  } catch (err) {
    db.close();
    throw err;
  }
  return new SqlitePaymentStore(db);
}

/** {@link PaymentStore} on bun:sqlite; writes are `BEGIN IMMEDIATE` transactions. */
export class SqlitePaymentStore implements PaymentStore {
  readonly outbox: SqliteOutbox;
  private readonly insertTx;
  private readonly transitionTx;

  constructor(readonly db: Database) {
    this.outbox = new SqliteOutbox(db);
    this.insertTx = db.transaction((p: PaymentRecord): boolean => {
      const r = db
        .query(
          `INSERT INTO payments (id, order_id, account_id, amount_cents, currency, status, provider_ref, failure_reason, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
        )
        .run(p.id, p.orderId, p.accountId, p.amountCents, p.currency, p.status, p.providerRef, p.failureReason, p.createdAt, p.updatedAt);
      if (r.changes > 0) this.outbox.add(PaymentEvents.statusChanged, statusChanged(p, null));
      return r.changes > 0;
    }).immediate;
    this.transitionTx = db.transaction(
      (id: string, from: readonly PaymentStatus[], to: PaymentStatus, patch: TransitionPatch): PaymentRecord | null => {
        const current = this.get(id);
        if (!current || !from.includes(current.status)) return null;
        const now = new Date().toISOString();
        const next: PaymentRecord = {
          ...current,
          status: to,
          providerRef: patch.providerRef !== undefined ? patch.providerRef : current.providerRef,
          failureReason: patch.failureReason !== undefined ? patch.failureReason : current.failureReason,
          updatedAt: now,
        };
        db.query("UPDATE payments SET status = ?, provider_ref = ?, failure_reason = ?, updated_at = ? WHERE id = ?").run(
          next.status,
          next.providerRef,
          next.failureReason,
          now,
          id,
        );
        this.outbox.add(PaymentEvents.statusChanged, statusChanged(next, current.status));
        return next;
      },
    ).immediate;
  }

  async insert(payment: PaymentRecord): Promise<{ payment: PaymentRecord; created: boolean }> {
    const created = this.insertTx(payment);
    if (created) void this.outbox.committed([PaymentEvents.statusChanged]);
    return { payment: this.get(payment.id) as PaymentRecord, created };
  }

  async transition(
    id: string,
    from: readonly PaymentStatus[],
    to: PaymentStatus,
    patch: TransitionPatch = {},
  ): Promise<PaymentRecord | null> {
    const next = this.transitionTx(id, from, to, patch);
    if (next) void this.outbox.committed([PaymentEvents.statusChanged]);
    return next;
  }

  async byId(id: string): Promise<PaymentRecord | null> {
    return this.get(id);
  }

  async latestForOrder(orderId: string): Promise<PaymentRecord | null> {
    return this.db
      .query<PaymentRecord, [string]>(`SELECT ${COLUMNS} FROM payments WHERE order_id = ? ORDER BY seq DESC LIMIT 1`)
      .get(orderId);
  }

  async outcome(idempotencyKey: string): Promise<CommandOutcome | null> {
    const row = this.db
      .query<{ outcome: string }, [string]>("SELECT outcome FROM payment_commands WHERE idempotency_key = ?")
      .get(idempotencyKey);
    return row ? (JSON.parse(row.outcome) as CommandOutcome) : null;
  }

  async saveOutcome(idempotencyKey: string, command: string, paymentId: string, outcome: CommandOutcome): Promise<void> {
    this.db
      .query(
        "INSERT INTO payment_commands (idempotency_key, command, payment_id, outcome, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
      )
      .run(idempotencyKey, command, paymentId, JSON.stringify(outcome), new Date().toISOString());
  }

  async close(): Promise<void> {
    this.db.close();
  }

  private get(id: string): PaymentRecord | null {
    return this.db.query<PaymentRecord, [string]>(`SELECT ${COLUMNS} FROM payments WHERE id = ?`).get(id);
  }
}
