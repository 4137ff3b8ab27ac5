import { postgresOutboxMigration, type PgMigration } from "../../../kernel/index.ts";

/** Versioned schema of the payment database (PostgreSQL), mirroring `migrations.ts`. Append only. */
export const PAYMENT_PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    name: "payments and command outcomes",
    up: `
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
  postgresOutboxMigration(2),
];
