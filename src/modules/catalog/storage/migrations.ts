import { sqliteOutboxMigration, type Migration } from "../../../kernel/index.ts";

/**
 * Versioned schema of the catalog database (SQLite). Append only: never edit a released
 * migration, add a new version instead.
 */
export const CATALOG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "categories and products",
    up: `
      CREATE TABLE categories (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
      );
      -- seq is the FTS content rowid: an INTEGER PRIMARY KEY is stable, whereas the implicit
      -- rowid of a table keyed by TEXT may be renumbered by VACUUM, desynchronising the index.
      CREATE TABLE products (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        category_id TEXT NOT NULL REFERENCES categories(id),
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
        currency TEXT NOT NULL CHECK (length(currency) = 3),
        stock INTEGER NOT NULL CHECK (stock >= 0),
        created_at TEXT NOT NULL
      );
      CREATE INDEX products_by_name ON products (name, id);
      CREATE INDEX products_by_category_name ON products (category_id, name, id);
    `,
  },
  {
    version: 2,
    name: "products full-text index",
    up: `
      -- External-content FTS5 table: the text lives once, in products; triggers keep the index
      -- in sync. unicode61 without stemming, so that prefix queries match what users type.
      CREATE VIRTUAL TABLE products_fts USING fts5(
        name, description,
        content = 'products', content_rowid = 'seq',
        tokenize = 'unicode61 remove_diacritics 2'
      );
      CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN
        INSERT INTO products_fts (rowid, name, description) VALUES (new.seq, new.name, new.description);
      END;
      CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN
        INSERT INTO products_fts (products_fts, rowid, name, description) VALUES ('delete', old.seq, old.name, old.description);
      END;
      -- Only on text changes: stock updates (the hot path) must not rewrite the index.
      CREATE TRIGGER products_fts_update AFTER UPDATE OF name, description ON products BEGIN
        INSERT INTO products_fts (products_fts, rowid, name, description) VALUES ('delete', old.seq, old.name, old.description);
        INSERT INTO products_fts (rowid, name, description) VALUES (new.seq, new.name, new.description);
      END;
      INSERT INTO products_fts (products_fts) VALUES ('rebuild');
    `,
  },
  {
    version: 3,
    name: "stock reservations",
    up: `
      CREATE TABLE reservations (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('held', 'released', 'committed')),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE reservation_items (
        reservation_id TEXT NOT NULL REFERENCES reservations(id),
        position INTEGER NOT NULL,
        product_id TEXT NOT NULL REFERENCES products(id),
        quantity INTEGER NOT NULL CHECK (quantity >= 1),
        unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
        currency TEXT NOT NULL,
        PRIMARY KEY (reservation_id, position),
        UNIQUE (reservation_id, product_id)
      );
    `,
  },
  {
    version: 4,
    name: "processed events",
    up: `
      -- Ids of consumed events, so a redelivered event is applied once.
      CREATE TABLE processed_events (
        event_id TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        processed_at TEXT NOT NULL
      );
    `,
  },
  // catalog.stock_changed and catalog.product_changed commit with the change they announce.
  sqliteOutboxMigration(5),
  {
    version: 6,
    name: "search generation",
    up: `
      -- A counter bumped in the same transaction as every change that can change a search's
      -- matches, order or bm25 statistics (a product inserted or deleted, a name or description
      -- changed), so cached search rankings can be checked with one row read (SearchCache).
      -- Stock and price changes do not touch it.
      CREATE TABLE search_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        generation INTEGER NOT NULL
      );
      INSERT INTO search_state (id, generation) VALUES (1, 0);
      CREATE TRIGGER products_search_generation_insert AFTER INSERT ON products BEGIN
        UPDATE search_state SET generation = generation + 1 WHERE id = 1;
      END;
      CREATE TRIGGER products_search_generation_delete AFTER DELETE ON products BEGIN
        UPDATE search_state SET generation = generation + 1 WHERE id = 1;
      END;
      -- Only when the text really changes: updateProduct may set a name or description unchanged.
      CREATE TRIGGER products_search_generation_update AFTER UPDATE OF name, description ON products
      WHEN old.name IS NOT new.name OR old.description IS NOT new.description BEGIN
        UPDATE search_state SET generation = generation + 1 WHERE id = 1;
      END;
    `,
  },
];
