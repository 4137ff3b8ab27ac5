import type { Migration } from "../../../kernel/index.ts";

/**
 * Versioned schema of the order database (SQLite). Append only: never edit a released
 * migration, add a new version instead.
 */
export const ORDER_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "orders and order items",
    up: `
      -- seq records insertion order ("newest first" even within one millisecond, where KSUIDs
      -- are unordered); an INTEGER PRIMARY KEY, unlike an implicit rowid, survives VACUUM.
      CREATE TABLE orders (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        account_id TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('PENDING', 'PAID', 'CANCELLED', 'PAYMENT_FAILED', 'SHIPPED')),
        total_cents INTEGER NOT NULL CHECK (total_cents >= 0),
        currency TEXT NOT NULL CHECK (length(currency) = 3),
        created_at TEXT NOT NULL
      );
      -- Serves Account.orders (newest first) without a sort.
      CREATE INDEX orders_by_account ON orders (account_id, seq DESC);
      CREATE TABLE order_items (
        order_id TEXT NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        product_id TEXT NOT NULL,
        quantity INTEGER NOT NULL CHECK (quantity >= 1),
        unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
        currency TEXT NOT NULL CHECK (length(currency) = 3),
        PRIMARY KEY (order_id, position),
        UNIQUE (order_id, product_id)
      );
    `,
  },
];
