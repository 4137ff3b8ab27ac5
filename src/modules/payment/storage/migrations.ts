import { sqliteOutboxMigration, type Migration } from "../../../kernel/index.ts";

/** Versioned schema of the payment database (SQLite). Append only. */
export const PAYMENT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "payments and command outcomes",
    up: `
      CREATE TABLE payments (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        order_id TEXT NOT NULL,
        account_id TEXT NOT NULL,
        amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
        currency TEXT NOT NULL CHECK (length(currency) = 3),
        status TEXT NOT NULL CHECK (status IN ('PENDING', 'AUTHORIZED', 'CAPTURED', 'DECLINED', 'FAILED', 'VOIDED', 'REFUNDED')),
        provider_ref TEXT,
        failure_reason TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX payments_by_order ON payments (order_id, seq DESC);
      -- Outcome of every command by idempotency key: a repeated command replays it.
      CREATE TABLE payment_commands (
        idempotency_key TEXT PRIMARY KEY,
        command TEXT NOT NULL,
        payment_id TEXT NOT NULL,
        outcome TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
    `,
  },
  sqliteOutboxMigration(2),
];
