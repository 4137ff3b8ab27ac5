import type { Migration } from "../../../kernel/index.ts";

/**
 * Catalog migration 10: the number of products matching each search prefix, kept by triggers
 * (PostgreSQL only, see below). Its own file: the migration list stays readable.
 */
export const SEARCH_TERMS_MIGRATION: Migration = {
  version: 10,
  name: "search term frequencies",
  up: {
    // FTS5 keeps its own per-term statistics (bm25 reads them from its doclists): nothing to add.
    sqlite: "SELECT 1;",
    postgres: `
      -- search_terms(prefix, docs): for every prefix (1 character up to the whole lexeme) of
      -- every lexeme of a product's search vector, the number of products having a lexeme that
      -- starts so, i.e. exactly the number of rows 'prefix':* matches (search terms are prefix
      -- queries). bm25's IDF needs that number for every term of every search; counting it on
      -- the GIN index builds the whole posting bitmap of a broad term (128 ms for a 2-letter
      -- prefix at 1M products). Kept by triggers in the same transaction as every change to
      -- products (like search_state), per statement for inserts and deletes (a bulk insert
      -- aggregates once), per row for a real text change; a prefix no product has any more is
      -- removed. Derived (never copied by the data-copy tool: the triggers rebuild it).
      -- Upserts go in prefix order, so concurrent writers lock shared rows in the same order
      -- (no deadlock between them).
      LOCK TABLE products IN SHARE ROW EXCLUSIVE MODE;
      CREATE TABLE search_terms (
        prefix text COLLATE "C" PRIMARY KEY,
        docs bigint NOT NULL
      );
      -- Every distinct prefix of the lexemes of v (characters, as tsquery's prefix match and
      -- catalog_search_prefixes count them).
      CREATE FUNCTION catalog_search_terms(v tsvector) RETURNS SETOF text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$ SELECT DISTINCT left(u.lexeme, n.n)
          FROM unnest(v) AS u CROSS JOIN LATERAL generate_series(1, char_length(u.lexeme)) AS n(n) $$;
      -- Adds delta (±1 per product) to each prefix's count and drops the prefixes left at 0.
      CREATE FUNCTION catalog_search_terms_add(prefixes text[], deltas bigint[]) RETURNS void
        LANGUAGE plpgsql SET search_path FROM CURRENT
        AS $$ BEGIN
          INSERT INTO search_terms AS s (prefix, docs)
            SELECT d.prefix, d.delta FROM unnest(prefixes, deltas) AS d(prefix, delta) ORDER BY d.prefix
            ON CONFLICT (prefix) DO UPDATE SET docs = s.docs + excluded.docs;
          DELETE FROM search_terms WHERE prefix = ANY (prefixes) AND docs <= 0;
        END $$;
      CREATE FUNCTION catalog_search_terms_insert() RETURNS trigger
        LANGUAGE plpgsql SET search_path FROM CURRENT
        AS $$ BEGIN
          PERFORM catalog_search_terms_add(array_agg(t.prefix), array_agg(t.n))
            FROM (SELECT p.prefix, count(*) AS n FROM inserted_rows r, catalog_search_terms(r.search) AS p(prefix) GROUP BY p.prefix) t
            HAVING count(*) > 0;
          RETURN NULL;
        END $$;
      CREATE FUNCTION catalog_search_terms_delete() RETURNS trigger
        LANGUAGE plpgsql SET search_path FROM CURRENT
        AS $$ BEGIN
          PERFORM catalog_search_terms_add(array_agg(t.prefix), array_agg(-t.n))
            FROM (SELECT p.prefix, count(*) AS n FROM deleted_rows r, catalog_search_terms(r.search) AS p(prefix) GROUP BY p.prefix) t
            HAVING count(*) > 0;
          RETURN NULL;
        END $$;
      CREATE FUNCTION catalog_search_terms_update() RETURNS trigger
        LANGUAGE plpgsql SET search_path FROM CURRENT
        AS $$ BEGIN
          PERFORM catalog_search_terms_add(array_agg(d.prefix), array_agg(d.delta))
            FROM (
              (SELECT o.prefix, -1::bigint AS delta FROM catalog_search_terms(OLD.search) AS o(prefix)
                EXCEPT SELECT n.prefix, -1::bigint FROM catalog_search_terms(NEW.search) AS n(prefix))
              UNION ALL
              (SELECT n.prefix, 1::bigint FROM catalog_search_terms(NEW.search) AS n(prefix)
                EXCEPT SELECT o.prefix, 1::bigint FROM catalog_search_terms(OLD.search) AS o(prefix))
            ) d
            HAVING count(*) > 0;
          RETURN NULL;
        END $$;
      CREATE FUNCTION catalog_search_terms_truncate() RETURNS trigger
        LANGUAGE plpgsql SET search_path FROM CURRENT
        AS $$ BEGIN
          DELETE FROM search_terms;
          RETURN NULL;
        END $$;
      CREATE TRIGGER products_search_terms_insert AFTER INSERT ON products
        REFERENCING NEW TABLE AS inserted_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_search_terms_insert();
      CREATE TRIGGER products_search_terms_delete AFTER DELETE ON products
        REFERENCING OLD TABLE AS deleted_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_search_terms_delete();
      -- Per row, only when the text really changes (stock and price updates never come here).
      CREATE TRIGGER products_search_terms_update AFTER UPDATE OF name, description ON products
        FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.description IS DISTINCT FROM NEW.description)
        EXECUTE FUNCTION catalog_search_terms_update();
      CREATE TRIGGER products_search_terms_truncate AFTER TRUNCATE ON products
        FOR EACH STATEMENT EXECUTE FUNCTION catalog_search_terms_truncate();
      INSERT INTO search_terms (prefix, docs)
        SELECT p.prefix, count(*) FROM products r, catalog_search_terms(r.search) AS p(prefix) GROUP BY p.prefix;
    `,
  },
};
