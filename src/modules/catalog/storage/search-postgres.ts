import { type RawBuilder, sql } from "kysely";
import { type CatalogDb, PRODUCT_COLUMNS } from "./tables.ts";
import type { ProductFilter, ProductPageQuery, ProductRecord } from "./types.ts";

/**
 * Search on PostgreSQL, finding and ordering what FTS5 does on SQLite (search-sqlite.ts): the
 * same tokens (see migration 2), every term a prefix, all terms required, and relevance by the
 * formula of FTS5's `bm25()` (Okapi BM25, k1 = 1.2, b = 0.75, IDF floored at 1e-6, name hits
 * weighted 10, description hits 1), computed from the GIN-indexed `search` tsvector. `ts_rank`
 * would be cheaper but orders differently (no IDF, another length normalisation), so page
 * contents would differ. The rank key is the negated score (lower is better), as in SQLite.
 */

/**
 * One search page on PostgreSQL: rows matching every term as a prefix, ordered by bm25 (negated,
 * lower is better) then id, strictly after `q.after`, at most `limit` rows.
 * @param q `terms` non-empty; `after`, when set, a rank position.
 */
export async function postgresSearchPage(
  db: CatalogDb,
  q: ProductPageQuery,
  limit: number,
): Promise<(ProductRecord & { score: number })[]> {
  const terms = q.terms ?? [];
  const category = q.categoryId !== undefined ? sql`AND p.category_id = ${q.categoryId}` : sql``;
  const after = q.after ? sql`WHERE (score, id) > (${q.after.key}::float8, ${q.after.id})` : sql``;
  const { rows } = await sql<ProductRecord & { score: number }>`
    WITH ${searchCtes(terms)},
    ranked AS (
      SELECT ${PRODUCT_COLUMNS}, ${BM25} AS score
      FROM products p JOIN categories c ON c.id = p.category_id CROSS JOIN stats
      WHERE p.search @@ (SELECT tsq FROM query) ${category}
    )
    SELECT * FROM ranked ${after} ORDER BY score, id LIMIT ${limit}`.execute(db);
  return rows;
}

/**
 * Number of products matching every term of `f.terms` (non-empty) as a prefix, on PostgreSQL
 * (GIN), counting at most `bound + 1` matches (exact when ≤ `bound`; `bound + 1` means "more").
 * The LIMIT stops the bitmap heap scan early: a broad term visits `bound + 1` rows, not all.
 * `bound` = Infinity: an exact count.
 */
export async function postgresSearchCount(db: CatalogDb, f: ProductFilter, bound = Number.POSITIVE_INFINITY): Promise<number> {
  const category = f.categoryId !== undefined ? sql`AND p.category_id = ${f.categoryId}` : sql``;
  const limit = Number.isFinite(bound) ? sql`LIMIT ${bound + 1}` : sql``;
  const { rows } = await sql<{ n: number }>`
    WITH ${termCtes(f.terms ?? [])}
    SELECT count(*) AS n FROM (
      SELECT 1 FROM products p WHERE p.search @@ (SELECT tsq FROM query) ${category} ${limit}
    ) hits`.execute(db);
  return Number(rows[0]?.n ?? 0);
}

/**
 * CTEs `terms(ord, lexeme)` and `query(tsq)`: each search term run through the same
 * tokenizer as the documents (`catalog_search_vector`, so case and diacritics fold alike),
 * and their AND as prefix matches (`'term':*`). A term that yields no lexeme (only combining
 * marks) is dropped, as FTS5 ignores an empty phrase; with none left, `tsq` is NULL and
 * nothing matches, as in SQLite. The lexemes are alphanumeric (punctuation was removed), so
 * quoting them makes a valid tsquery.
 */
const termCtes = (terms: readonly string[]): RawBuilder<unknown> => sql`
  terms AS (
    SELECT t.ord, v.lexeme
    FROM unnest(${[...terms]}::text[]) WITH ORDINALITY AS t(term, ord)
    CROSS JOIN LATERAL unnest(catalog_search_vector(t.term, '')) AS v
  ),
  query AS (
    SELECT string_agg(quote_literal(lexeme) || ':*', ' & ' ORDER BY ord, lexeme)::tsquery AS tsq FROM terms
  )`;

/**
 * {@link termCtes} plus what bm25 needs besides the row: `stats(n, avgdl)` over the whole
 * table (FTS5's row count and average tokens per row; a category filter does not change
 * them) and `idf(ord, lexeme, idf)` per term, from the number of rows it matches (GIN).
 * The totals come from `search_state`, kept by triggers (migration 6), like FTS5 reading
 * the totals its index keeps, instead of a scan of `products` per search.
 */
const searchCtes = (terms: readonly string[]): RawBuilder<unknown> => sql`
  ${termCtes(terms)},
  stats AS (
    SELECT products::float8 AS n, tokens::float8 / greatest(products, 1)::float8 AS avgdl FROM search_state WHERE id = 1
  ),
  idf AS MATERIALIZED (
    -- Computed once per search: referenced only inside the per-row bm25 subquery, PostgreSQL
    -- would otherwise inline it there and count every term's matches again for every row.
    -- A term in more than half the rows would get a negative IDF; FTS5 uses 1e-6 instead.
    SELECT terms.ord, terms.lexeme, CASE WHEN l.v <= 0 THEN 1e-6::float8 ELSE l.v END AS idf
    FROM terms CROSS JOIN stats
    CROSS JOIN LATERAL (
      SELECT count(*)::float8 AS n FROM products WHERE search @@ (quote_literal(terms.lexeme) || ':*')::tsquery
    ) hits
    CROSS JOIN LATERAL (SELECT ln((stats.n - hits.n + 0.5::float8) / (hits.n + 0.5::float8)) AS v) l
  )`;

/**
 * FTS5's bm25 for row `p`, negated (lower is better), evaluated in the same order of float
 * operations as fts5_aux.c so that scores match SQLite's to the last bit or nearly:
 * `-Σ idf · (f · (k1 + 1)) / (f + k1 · (1 − b + b · D / avgdl))`, where f is the term's
 * prefix hits weighted by column (name 10, description 1) and D the row's token count.
 */
const BM25 = sql.raw(`-(
  SELECT sum(
    idf.idf * ((f.freq * (1.2::float8 + 1.0::float8)) / (f.freq + 1.2::float8 * (1.0::float8 - 0.75::float8 + 0.75::float8 * p.search_tokens / stats.avgdl)))
    ORDER BY idf.ord, idf.lexeme)
  FROM idf CROSS JOIN LATERAL (
    SELECT coalesce(sum(CASE w WHEN 'A' THEN 10.0::float8 ELSE 1.0::float8 END), 0::float8) AS freq
    FROM unnest(p.search) AS v CROSS JOIN LATERAL unnest(v.weights) AS w
    WHERE starts_with(v.lexeme, idf.lexeme)
  ) f
)`);
