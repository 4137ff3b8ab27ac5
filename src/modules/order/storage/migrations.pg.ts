import type { PgMigration } from "../../../kernel/index.ts";

/**
 * Versioned schema of the order database (PostgreSQL), mirroring `migrations.ts` (SQLite)
 * version for version. Append only: never edit a released migration, add a new version.
 */
export const ORDER_PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    name: "orders and order items",
    up: `
      -- seq records insertion order ("newest first" even within one millisecond, where KSUIDs
      -- are unordered). Ids are COLLATE "C": byte order, as SQLite's BINARY.
      CREATE TABLE orders (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id text COLLATE "C" NOT NULL UNIQUE,
        account_id text COLLATE "C" NOT NULL,
        status text NOT NULL CHECK (status IN ('PENDING', 'PAID', 'CANCELLED', 'PAYMENT_FAILED', 'SHIPPED')),
        -- Integer cents; bigint because a total is a sum of products of quantities and prices.
        total_cents bigint NOT NULL CHECK (total_cents >= 0),
        currency text NOT NULL CHECK (length(currency) = 3),
        created_at timestamptz NOT NULL
      );
      -- Serves Account.orders (newest first) without a sort.
      CREATE INDEX orders_by_account ON orders (account_id, seq DESC);
      CREATE TABLE order_items (
        order_id text COLLATE "C" NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
        position integer NOT NULL,
        product_id text COLLATE "C" NOT NULL,
        quantity integer NOT NULL CHECK (quantity >= 1),
        unit_price_cents bigint NOT NULL CHECK (unit_price_cents >= 0),
        currency text NOT NULL CHECK (length(currency) = 3),
        PRIMARY KEY (order_id, position),
        UNIQUE (order_id, product_id)
      );
    `,
  },
];
