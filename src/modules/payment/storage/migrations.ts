import { type Migration, outboxMigration } from "../../../kernel/index.ts";

/**
 * Versioned schema of the payment database, per dialect where the DDL differs (the scripts are
 * those earlier versions applied, verbatim: existing databases stay valid). Append only.
 */
export const PAYMENT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "payments and command outcomes",
    up: {
      sqlite: `
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
      postgres: `
      CREATE TABLE payments (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id text COLLATE "C" NOT NULL UNIQUE,
        order_id text COLLATE "C" NOT NULL,
        account_id text COLLATE "C" NOT NULL,
        amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
        currency text NOT NULL CHECK (length(currency) = 3),
        status text NOT NULL CHECK (status IN ('PENDING', 'AUTHORIZED', 'CAPTURED', 'DECLINED', 'FAILED', 'VOIDED', 'REFUNDED')),
        provider_ref text,
        failure_reason text,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      );
      CREATE INDEX payments_by_order ON payments (order_id, seq DESC);
      CREATE TABLE payment_commands (
        idempotency_key text COLLATE "C" PRIMARY KEY,
        command text NOT NULL,
        payment_id text NOT NULL,
        outcome jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `,
    },
  },
  outboxMigration(2),
];
