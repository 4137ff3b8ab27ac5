import type { Generated, Kysely } from "kysely";
import { type DatabaseConfig, type Logger, type ModuleDb, Outbox, openMigratedDatabase } from "../../../kernel/index.ts";
import { PaymentEvents } from "../contract/index.ts";
import { statusChanged } from "./events.ts";
import { PAYMENT_MIGRATIONS } from "./migrations.ts";
import type { CommandOutcome, PaymentRecord, PaymentStatus, PaymentStore, TransitionPatch } from "./types.ts";

/** The payment database's tables (see migrations.ts). Timestamps are ISO-8601 strings, `outcome` JSON text. */
interface Tables {
  payments: {
    seq: Generated<number>;
    id: string;
    order_id: string;
    account_id: string;
    amount_cents: number;
    currency: string;
    status: PaymentStatus;
    provider_ref: string | null;
    failure_reason: string | null;
    created_at: string;
    updated_at: string;
  };
  payment_commands: { idempotency_key: string; command: string; payment_id: string; outcome: string; created_at: string };
}

const COLUMNS = [
  "id",
  "order_id as orderId",
  "account_id as accountId",
  "amount_cents as amountCents",
  "currency",
  "status",
  "provider_ref as providerRef",
  "failure_reason as failureReason",
  "created_at as createdAt",
  "updated_at as updatedAt",
] as const;

/**
 * Opens the payment database (SQLite file or PostgreSQL pool), migrates it and returns a store on it.
 * @throws MigrationError when the database was migrated by newer code; the driver's error (the
 *   database is closed on failure).
 */
export async function openPaymentDatabase(config: DatabaseConfig, logger?: Logger): Promise<SqlPaymentStore> {
  return new SqlPaymentStore(await openMigratedDatabase<Tables>(config, PAYMENT_MIGRATIONS, logger ? { logger } : {}));
}

/**
 * {@link PaymentStore} on either database. A transition reads and updates the payment in one
 * write transaction: SQLite's `BEGIN IMMEDIATE` serialises writers, PostgreSQL locks the row
 * (`FOR UPDATE`) so concurrent compare-and-sets of one payment queue.
 */
export class SqlPaymentStore implements PaymentStore {
  readonly outbox: Outbox<Tables>;
  readonly #mdb: ModuleDb<Tables>;

  constructor(mdb: ModuleDb<Tables>) {
    this.#mdb = mdb;
    this.outbox = new Outbox(mdb);
  }

  async insert(p: PaymentRecord): Promise<{ payment: PaymentRecord; created: boolean }> {
    const created = await this.#mdb.db.transaction().execute(async (trx) => {
      const r = await trx
        .insertInto("payments")
        .values({
          id: p.id,
          order_id: p.orderId,
          account_id: p.accountId,
          amount_cents: p.amountCents,
          currency: p.currency,
          status: p.status,
          provider_ref: p.providerRef,
          failure_reason: p.failureReason,
          created_at: p.createdAt,
          updated_at: p.updatedAt,
        })
        .onConflict((oc) => oc.column("id").doNothing())
        .executeTakeFirst();
      const inserted = Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
      if (inserted) await this.outbox.add(trx, PaymentEvents.statusChanged, statusChanged(p, null));
      return inserted;
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
    const next = await this.#mdb.db.transaction().execute(async (trx) => {
      const current = await this.#get(trx, id, true);
      if (!current || !from.includes(current.status)) return null;
      const now = new Date().toISOString();
      const rec: PaymentRecord = {
        ...current,
        status: to,
        providerRef: patch.providerRef !== undefined ? patch.providerRef : current.providerRef,
        failureReason: patch.failureReason !== undefined ? patch.failureReason : current.failureReason,
        updatedAt: now,
      };
      await trx
        .updateTable("payments")
        .set({ status: rec.status, provider_ref: rec.providerRef, failure_reason: rec.failureReason, updated_at: now })
        .where("id", "=", id)
        .execute();
      await this.outbox.add(trx, PaymentEvents.statusChanged, statusChanged(rec, current.status));
      return rec;
    });
    if (next) void this.outbox.committed([PaymentEvents.statusChanged]);
    return next;
  }

  byId(id: string): Promise<PaymentRecord | null> {
    return this.#get(this.#mdb.db, id, false);
  }

  async latestForOrder(orderId: string): Promise<PaymentRecord | null> {
    const row = await this.#mdb.db
      .selectFrom("payments")
      .select(COLUMNS)
      .where("order_id", "=", orderId)
      .orderBy("seq", "desc")
      .limit(1)
      .executeTakeFirst();
    return row ?? null;
  }

  async outcome(idempotencyKey: string): Promise<CommandOutcome | null> {
    const row = await this.#mdb.db
      .selectFrom("payment_commands")
      .select("outcome")
      .where("idempotency_key", "=", idempotencyKey)
      .executeTakeFirst();
    return row ? (JSON.parse(row.outcome) as CommandOutcome) : null;
  }

  async saveOutcome(idempotencyKey: string, command: string, paymentId: string, outcome: CommandOutcome): Promise<void> {
    await this.#mdb.db
      .insertInto("payment_commands")
      .values({
        idempotency_key: idempotencyKey,
        command,
        payment_id: paymentId,
        outcome: JSON.stringify(outcome),
        created_at: new Date().toISOString(),
      })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }

  close(): Promise<void> {
    return this.#mdb.close();
  }

  /** The payment, locked for the rest of the transaction when `lock` (PostgreSQL; SQLite's writer lock already holds). */
  async #get(ex: Kysely<Tables>, id: string, lock: boolean): Promise<PaymentRecord | null> {
    const row = await ex
      .selectFrom("payments")
      .select(COLUMNS)
      .where("id", "=", id)
      .$if(lock && this.#mdb.dialect === "postgres", (q) => q.forUpdate())
      .executeTakeFirst();
    return row ?? null;
  }
}
