import { type Migration, outboxMigration } from "../../../kernel/index.ts";

/**
 * Versioned schema of the order database, per dialect (the scripts are those earlier versions
 * applied, verbatim: existing databases stay valid). Append only: never edit a released
 * migration, add a new version instead.
 */
export const ORDER_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "orders and order items",
    up: {
      sqlite: `
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
      postgres: `
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
  },
  {
    version: 2,
    name: "payment sagas",
    up: {
      sqlite: `
      -- One checkout saga per order (payOrder), persisted step by step: step is the next action
      -- to run, so a restarted module resumes (or compensates) exactly where it stopped.
      CREATE TABLE payment_sagas (
        order_id TEXT PRIMARY KEY REFERENCES orders(id),
        payment_id TEXT NOT NULL,
        account_id TEXT NOT NULL,
        token TEXT NOT NULL,
        amount_cents INTEGER NOT NULL,
        currency TEXT NOT NULL,
        step TEXT NOT NULL CHECK (step IN ('AUTHORIZE', 'CAPTURE', 'MARK_PAID', 'VOID', 'REFUND', 'RELEASE_STOCK', 'MARK_FAILED', 'DONE')),
        status TEXT NOT NULL CHECK (status IN ('RUNNING', 'COMPENSATING', 'SUCCEEDED', 'FAILED')),
        failure_code TEXT,
        failure_message TEXT,
        authorize_key TEXT NOT NULL,
        capture_key TEXT NOT NULL,
        void_key TEXT NOT NULL,
        refund_key TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        -- Epoch ms until which the instance driving the saga owns it; others resume it after.
        lease_until INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX payment_sagas_unfinished ON payment_sagas (lease_until) WHERE status IN ('RUNNING', 'COMPENSATING');
      -- The unpaid-order sweeper's scan.
      CREATE INDEX orders_pending_by_created ON orders (created_at) WHERE status = 'PENDING';
    `,
      postgres: `
      CREATE TABLE payment_sagas (
        order_id text COLLATE "C" PRIMARY KEY REFERENCES orders(id),
        payment_id text COLLATE "C" NOT NULL,
        account_id text COLLATE "C" NOT NULL,
        token text NOT NULL,
        amount_cents bigint NOT NULL,
        currency text NOT NULL,
        step text NOT NULL CHECK (step IN ('AUTHORIZE', 'CAPTURE', 'MARK_PAID', 'VOID', 'REFUND', 'RELEASE_STOCK', 'MARK_FAILED', 'DONE')),
        status text NOT NULL CHECK (status IN ('RUNNING', 'COMPENSATING', 'SUCCEEDED', 'FAILED')),
        failure_code text,
        failure_message text,
        authorize_key text NOT NULL,
        capture_key text NOT NULL,
        void_key text NOT NULL,
        refund_key text NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        lease_until bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      );
      CREATE INDEX payment_sagas_unfinished ON payment_sagas (lease_until) WHERE status IN ('RUNNING', 'COMPENSATING');
      CREATE INDEX orders_pending_by_created ON orders (created_at) WHERE status = 'PENDING';
    `,
    },
  },
  {
    version: 3,
    name: "reservation intents",
    up: {
      sqlite: `
      -- A stock reservation requested for an order not written yet. Deleted when the order is
      -- written; one left behind (the process died, or the catalog's reply was lost) is released
      -- by the sweeper after ORDER_PAYMENT_TIMEOUT_S, so no stock stays held without an order.
      CREATE TABLE reservation_intents (
        order_id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL
      );
    `,
      postgres: `
      -- A stock reservation requested for an order not written yet. Deleted when the order is
      -- written; one left behind (the process died, or the catalog's reply was lost) is released
      -- by the sweeper after ORDER_PAYMENT_TIMEOUT_S, so no stock stays held without an order.
      CREATE TABLE reservation_intents (
        order_id text COLLATE "C" PRIMARY KEY,
        created_at timestamptz NOT NULL
      );
    `,
    },
  },
  // Events (order.created, order.status_changed) commit with the change they announce.
  outboxMigration(4),
  {
    version: 5,
    name: "unpaid orders per account",
    up: {
      sqlite: `
      -- ORDER_MAX_PENDING counts an account's PENDING orders plus its intents (orders being
      -- placed), so intents record their account (null for intents written before this).
      ALTER TABLE reservation_intents ADD COLUMN account_id TEXT;
      CREATE INDEX reservation_intents_by_account ON reservation_intents (account_id) WHERE account_id IS NOT NULL;
      CREATE INDEX orders_pending_by_account ON orders (account_id) WHERE status = 'PENDING';
    `,
      postgres: `
      -- ORDER_MAX_PENDING counts an account's PENDING orders plus its intents (orders being
      -- placed), so intents record their account (null for intents written before this).
      ALTER TABLE reservation_intents ADD COLUMN account_id text COLLATE "C";
      CREATE INDEX reservation_intents_by_account ON reservation_intents (account_id) WHERE account_id IS NOT NULL;
      CREATE INDEX orders_pending_by_account ON orders (account_id) WHERE status = 'PENDING';
    `,
    },
  },
  {
    version: 6,
    name: "reservation intents swept",
    up: {
      sqlite: `
      -- Set (compare-and-set) by the sweeper when it takes over an intent whose order was not
      -- written within ORDER_INTENT_GRACE_S: from then on the order can no longer be written
      -- (the order's transaction fails on a swept intent), and the row is deleted once the
      -- catalog confirmed the release. Exactly one of the order write and the sweeper wins.
      ALTER TABLE reservation_intents ADD COLUMN swept_at TEXT;
      CREATE INDEX reservation_intents_by_created ON reservation_intents (created_at);
    `,
      postgres: `
      -- See migrations.ts (SQLite) version 6: the sweeper's compare-and-set mark; the order's
      -- transaction fails on a swept intent, so exactly one of them wins.
      ALTER TABLE reservation_intents ADD COLUMN swept_at timestamptz;
      CREATE INDEX reservation_intents_by_created ON reservation_intents (created_at);
    `,
    },
  },
];
