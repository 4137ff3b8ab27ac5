import { inboxMigration, type Migration, outboxMigration } from "../../../kernel/index.ts";
import { SEARCH_TERMS_MIGRATION } from "./migration-search-terms.ts";

/**
 * Versioned schema of the catalog database, per dialect where the DDL differs (versions 1-6 are
 * the scripts earlier versions applied, verbatim: existing databases stay valid). Append only:
 * never edit a released migration, add a new version instead.
 *
 * PostgreSQL: text that is sorted or compared (ids, names) is `COLLATE "C"`: byte order, like
 * SQLite's BINARY, so listings and keyset cursors behave the same whatever the database's locale.
 * Search differs most: an FTS5 external-content table on SQLite, a generated, GIN-indexed
 * `tsvector` on PostgreSQL (tokenized as FTS5 does, see version 2).
 */
export const CATALOG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "categories and products",
    up: {
      sqlite: `
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
      postgres: `
      CREATE TABLE categories (
        id text COLLATE "C" PRIMARY KEY,
        name text COLLATE "C" NOT NULL UNIQUE
      );
      CREATE TABLE products (
        id text COLLATE "C" PRIMARY KEY,
        category_id text COLLATE "C" NOT NULL REFERENCES categories(id),
        name text COLLATE "C" NOT NULL,
        description text NOT NULL,
        -- Integer cents.
        price_cents bigint NOT NULL CHECK (price_cents >= 0),
        currency text NOT NULL CHECK (length(currency) = 3),
        stock integer NOT NULL CHECK (stock >= 0),
        created_at timestamptz NOT NULL
      );
      CREATE INDEX products_by_name ON products (name, id);
      CREATE INDEX products_by_category_name ON products (category_id, name, id);
    `,
    },
  },
  {
    version: 2,
    name: "products full-text index",
    up: {
      sqlite: `
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
      postgres: `
      -- Name ('A') and description ('B') as weighted lexemes; the ranking weights hits by
      -- column, as bm25(products_fts, 10.0, 1.0) does. The text is split as SQLite's FTS5
      -- tokenizer (unicode61, remove_diacritics 2) splits it, so both stores find the same
      -- products: diacritics dropped (NFD, then combining marks removed) and ASCII punctuation
      -- made a separator (else PostgreSQL's parser keeps compounds like 'six-cup' or '1.5' as
      -- extra lexemes, changing hits and document lengths). The 'simple' configuration then
      -- lower-cases, with no stemming and no stop words (FTS5 has neither). The store runs
      -- search terms through the same function. Only built-in functions inside, so it works
      -- under any search_path (pg_restore runs with an empty one). Needs a UTF8 database.
      CREATE FUNCTION catalog_search_vector(name text, description text) RETURNS tsvector
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$ SELECT
          setweight(to_tsvector('simple', regexp_replace(regexp_replace(normalize(name, NFD),
            '[\\u0300-\\u036f]+', '', 'g'), '[\\x21-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7e]+', ' ', 'g')), 'A')
          || setweight(to_tsvector('simple', regexp_replace(regexp_replace(normalize(description, NFD),
            '[\\u0300-\\u036f]+', '', 'g'), '[\\x21-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7e]+', ' ', 'g')), 'B') $$;
      -- Tokens of a document (FTS5's column sizes, summed): bm25's document length.
      CREATE FUNCTION catalog_token_count(v tsvector) RETURNS integer
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$ SELECT coalesce(sum(cardinality(positions)), 0)::integer FROM unnest(v) $$;
      -- Generated: always in step with name and description (no triggers to forget), and
      -- recomputed only when they change, never by the stock updates of the hot path.
      ALTER TABLE products
        ADD COLUMN search tsvector GENERATED ALWAYS AS (catalog_search_vector(name, description)) STORED,
        ADD COLUMN search_tokens integer GENERATED ALWAYS AS (catalog_token_count(catalog_search_vector(name, description))) STORED;
      CREATE INDEX products_search ON products USING gin (search);
    `,
    },
  },
  {
    version: 3,
    name: "stock reservations",
    up: {
      sqlite: `
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
      postgres: `
      CREATE TABLE reservations (
        id text COLLATE "C" PRIMARY KEY,
        status text NOT NULL CHECK (status IN ('held', 'released', 'committed')),
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      );
      CREATE TABLE reservation_items (
        reservation_id text COLLATE "C" NOT NULL REFERENCES reservations(id),
        position integer NOT NULL,
        product_id text COLLATE "C" NOT NULL REFERENCES products(id),
        quantity integer NOT NULL CHECK (quantity >= 1),
        unit_price_cents bigint NOT NULL CHECK (unit_price_cents >= 0),
        currency text NOT NULL,
        PRIMARY KEY (reservation_id, position),
        UNIQUE (reservation_id, product_id)
      );
    `,
    },
  },
  {
    version: 4,
    name: "processed events",
    up: {
      sqlite: `
      -- Ids of consumed events, so a redelivered event is applied once.
      CREATE TABLE processed_events (
        event_id TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        processed_at TEXT NOT NULL
      );
    `,
      postgres: `
      -- Ids of consumed events, so a redelivered event is applied once.
      CREATE TABLE processed_events (
        event_id text COLLATE "C" PRIMARY KEY,
        subject text NOT NULL,
        processed_at timestamptz NOT NULL
      );
    `,
    },
  },
  // catalog.stock_changed and catalog.product_changed commit with the change they announce.
  outboxMigration(5),
  {
    version: 6,
    name: "search generation",
    // Recorded as "search generation and statistics" by earlier PostgreSQL versions (names are not compared).
    up: {
      sqlite: `
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
      postgres: `
      -- One row kept by triggers in the same transaction as every change to products:
      -- generation: bumped whenever a search's matches, order or bm25 statistics may change
      --   (products inserted, deleted or truncated, a name or description really changed), so
      --   cached search rankings are checked with one row read (SearchCache); stock and price
      --   updates do not touch it;
      -- products, tokens: the row count and the sum of search_tokens, i.e. bm25's N and
      --   average document length, which every search needs and which otherwise cost a scan
      --   of the whole table per search (FTS5 keeps the same totals in its index).
      -- Inserts and deletes per statement (transition tables): a bulk insert updates it once.
      -- The functions keep the schema they were created in, so they find search_state
      -- whatever the caller's search_path.
      LOCK TABLE products IN SHARE ROW EXCLUSIVE MODE;
      CREATE TABLE search_state (
        id integer PRIMARY KEY CHECK (id = 1),
        generation bigint NOT NULL,
        products bigint NOT NULL,
        tokens bigint NOT NULL
      );
      INSERT INTO search_state (id, generation, products, tokens)
        SELECT 1, 0, count(*), coalesce(sum(search_tokens), 0) FROM products;
      CREATE FUNCTION catalog_search_state_insert() RETURNS trigger
        LANGUAGE plpgsql SET search_path FROM CURRENT
        AS $$ BEGIN
          UPDATE search_state SET generation = generation + 1,
            products = products + (SELECT count(*) FROM inserted_rows),
            tokens = tokens + (SELECT coalesce(sum(search_tokens), 0) FROM inserted_rows)
          WHERE id = 1;
          RETURN NULL;
        END $$;
      CREATE FUNCTION catalog_search_state_delete() RETURNS trigger
        LANGUAGE plpgsql SET search_path FROM CURRENT
        AS $$ BEGIN
          UPDATE search_state SET generation = generation + 1,
            products = products - (SELECT count(*) FROM deleted_rows),
            tokens = tokens - (SELECT coalesce(sum(search_tokens), 0) FROM deleted_rows)
          WHERE id = 1;
          RETURN NULL;
        END $$;
      CREATE FUNCTION catalog_search_state_update() RETURNS trigger
        LANGUAGE plpgsql SET search_path FROM CURRENT
        AS $$ BEGIN
          UPDATE search_state SET generation = generation + 1, tokens = tokens - OLD.search_tokens + NEW.search_tokens WHERE id = 1;
          RETURN NULL;
        END $$;
      CREATE FUNCTION catalog_search_state_truncate() RETURNS trigger
        LANGUAGE plpgsql SET search_path FROM CURRENT
        AS $$ BEGIN
          UPDATE search_state SET generation = generation + 1, products = 0, tokens = 0 WHERE id = 1;
          RETURN NULL;
        END $$;
      CREATE TRIGGER products_search_state_insert AFTER INSERT ON products
        REFERENCING NEW TABLE AS inserted_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_search_state_insert();
      CREATE TRIGGER products_search_state_delete AFTER DELETE ON products
        REFERENCING OLD TABLE AS deleted_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_search_state_delete();
      -- Per row, only when the text really changes: updateProduct sets every column it may change.
      CREATE TRIGGER products_search_state_update AFTER UPDATE OF name, description ON products
        FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.description IS DISTINCT FROM NEW.description)
        EXECUTE FUNCTION catalog_search_state_update();
      CREATE TRIGGER products_search_state_truncate AFTER TRUNCATE ON products
        FOR EACH STATEMENT EXECUTE FUNCTION catalog_search_state_truncate();
    `,
    },
  },
  // The order.status_changed consumer's processed event ids (replaces processed_events).
  inboxMigration(7),
  {
    version: 8,
    name: "processed events into the inbox",
    // The ids processed_events holds are carried over (all of them are order.status_changed
    // ids, consumer catalog.order-status), so an event redelivered across the upgrade is still
    // recognised; then the table goes (nothing reads it any more). Same SQL on both databases:
    // processed_at is TEXT (ISO-8601) on SQLite, timestamptz on PostgreSQL, as in the inbox.
    up: `
      INSERT INTO inbox (consumer, event_id, processed_at)
        SELECT 'catalog.order-status', event_id, processed_at FROM processed_events WHERE subject = 'order.status_changed';
      DROP TABLE processed_events;
    `,
  },
  {
    version: 9,
    name: "search prefix index",
    up: {
      sqlite: `
      -- The FTS5 index again, now with prefix indexes of 1, 2 and 3 characters: a short prefix
      -- ("st"*) reads one prebuilt doclist instead of merging the doclist of every word that
      -- starts with it (thousands for one letter), which made short prefixes the slowest
      -- searches. Longer prefixes use the 3-character index to narrow the words to merge.
      -- Same columns, tokenizer and content table: the same matches and bm25 scores. A new
      -- table (FTS5 options cannot be changed in place), built from the products by 'rebuild'.
      DROP TRIGGER products_fts_insert;
      DROP TRIGGER products_fts_delete;
      DROP TRIGGER products_fts_update;
      DROP TABLE products_fts;
      CREATE VIRTUAL TABLE products_search USING fts5(
        name, description,
        content = 'products', content_rowid = 'seq',
        tokenize = 'unicode61 remove_diacritics 2',
        prefix = '1 2 3'
      );
      CREATE TRIGGER products_search_insert AFTER INSERT ON products BEGIN
        INSERT INTO products_search (rowid, name, description) VALUES (new.seq, new.name, new.description);
      END;
      CREATE TRIGGER products_search_delete AFTER DELETE ON products BEGIN
        INSERT INTO products_search (products_search, rowid, name, description) VALUES ('delete', old.seq, old.name, old.description);
      END;
      -- Only on text changes: stock updates (the hot path) must not rewrite the index.
      CREATE TRIGGER products_search_update AFTER UPDATE OF name, description ON products BEGIN
        INSERT INTO products_search (products_search, rowid, name, description) VALUES ('delete', old.seq, old.name, old.description);
        INSERT INTO products_search (rowid, name, description) VALUES (new.seq, new.name, new.description);
      END;
      INSERT INTO products_search (products_search) VALUES ('rebuild');
    `,
      postgres: `
      -- The prefixes of 1 to 3 characters of every lexeme of a product's search vector, as
      -- lexemes of their own, GIN-indexed: a short prefix (a term of up to 3 characters) is one
      -- posting list to read, where 'st':* on search merges the posting lists of every word
      -- starting so (FTS5's prefix indexes, migration 9 on SQLite, do the same). Generated, so
      -- always in step with name and description; adding it rewrites the table once.
      CREATE FUNCTION catalog_search_prefixes(v tsvector) RETURNS tsvector
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$ SELECT array_to_tsvector(coalesce(array_agg(DISTINCT left(u.lexeme, n.n)), '{}'))
          FROM unnest(v) AS u CROSS JOIN generate_series(1, 3) AS n(n) WHERE char_length(u.lexeme) >= n.n $$;
      ALTER TABLE products ADD COLUMN search_prefixes tsvector
        GENERATED ALWAYS AS (catalog_search_prefixes(catalog_search_vector(name, description))) STORED;
      CREATE INDEX products_search_prefixes ON products USING gin (search_prefixes);
      -- Statistics of the new column at once: without them the planner takes every prefix for
      -- rare and builds the whole bitmap of a term matching half the catalog to read 1,001 rows.
      ANALYZE products;
    `,
    },
  },
  SEARCH_TERMS_MIGRATION,
];
