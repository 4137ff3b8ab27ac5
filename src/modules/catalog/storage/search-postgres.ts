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
 *
 * A broad search, matching more than `candidates` products, ranks only its first `candidates`
 * matches in scan order (as SQLite does in its index order, see search-sqlite.ts), and a term
 * matching more than `candidates` products counts as matching `candidates + 1` in its IDF
 * (counting every match of a broad term was most of the cost). A search matching at most
 * `candidates` products is ranked over all of them, exactly as without the bound.
 * @param q `terms` non-empty; `after`, when set, a rank position.
 * @param candidates integer ≥ 1, or Infinity (rank every match).
 */
export async function postgresSearchPage(
  db: CatalogDb,
  q: ProductPageQuery,
  limit: number,
  candidates = Number.POSITIVE_INFINITY,
): Promise<(ProductRecord & { score: number })[]> {
  return customPlans(db, (trx) => searchPage(trx, q, limit, candidates));
}

async function searchPage(
  db: CatalogDb,
  q: ProductPageQuery,
  limit: number,
  candidates = Number.POSITIVE_INFINITY,
): Promise<(ProductRecord & { score: number })[]> {
  const m = await searchMatch(db, q.terms ?? []);
  if (!m) return [];
  const category = q.categoryId !== undefined ? sql`AND p.category_id = ${q.categoryId}` : sql``;
  let first: string[] | undefined;
  if (Number.isFinite(candidates)) {
    // At most candidates + 1 rows: the scan stops there, however broad the term.
    const { rows } = await sql<{ id: string }>`SELECT p.id FROM products p WHERE ${m.where} ${category} LIMIT ${candidates + 1}`.execute(
      db,
    );
    if (rows.length > candidates) first = rows.slice(0, candidates).map((r) => r.id);
  }
  // The candidates are checked again (@@): one may have changed since the first statement.
  const from = first ? sql`unnest(${first}::text[]) AS k(id) JOIN products p ON p.id = k.id` : sql`products p`;
  const after = q.after ? sql`WHERE (score, id) > (${q.after.key}::float8, ${q.after.id})` : sql``;
  const { rows } = await sql<ProductRecord & { score: number }>`
    WITH ${searchCtes(m, first ? candidates + 1 : undefined)},
    ranked AS (
      SELECT ${PRODUCT_COLUMNS}, ${BM25} AS score
      FROM ${from} JOIN categories c ON c.id = p.category_id CROSS JOIN stats
      WHERE ${m.where} ${category}
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
  return customPlans(db, (trx) => searchCount(trx, f, bound));
}

/**
 * Runs `f` in a transaction planned per execution (`plan_cache_mode = force_custom_plan`): the
 * driver prepares every statement, and after five executions PostgreSQL would switch to a
 * generic plan that knows nothing of the tsquery and takes every term for rare (500 rows), so
 * a prefix matching half the catalog got a whole-bitmap GIN scan where a sequential scan with
 * LIMIT finds its 1,001 rows at once. Planning a search costs far less than a wrong plan.
 */
async function customPlans<T>(db: CatalogDb, f: (trx: CatalogDb) => Promise<T>): Promise<T> {
  return db.transaction().execute(async (trx) => {
    await sql`SET LOCAL plan_cache_mode = force_custom_plan`.execute(trx);
    return f(trx);
  });
}

async function searchCount(db: CatalogDb, f: ProductFilter, bound: number): Promise<number> {
  const m = await searchMatch(db, f.terms ?? []);
  if (!m) return 0;
  const category = f.categoryId !== undefined ? sql`AND p.category_id = ${f.categoryId}` : sql``;
  const limit = Number.isFinite(bound) ? sql`LIMIT ${bound + 1}` : sql``;
  const { rows } = await sql<{ n: number }>`
    SELECT count(*) AS n FROM (SELECT 1 FROM products p WHERE ${m.where} ${category} ${limit}) hits`.execute(db);
  return Number(rows[0]?.n ?? 0);
}

/** Lexemes of at most this many characters are looked up in `search_prefixes` (migration 9). */
const SHORT_PREFIX = 3;

/** A search's terms as lexemes, and the condition on `products p` that finds their matches. */
interface SearchMatch {
  /** Per term (in order), its lexemes, as `(ord, lexeme)`. */
  lexemes: { ord: number; lexeme: string }[];
  /** Every lexeme as a prefix: long ones on `search` (`'lexeme':*`), short ones on `search_prefixes`. */
  where: RawBuilder<unknown>;
}

/** Per database, lexemes of search terms already seen (`catalog_search_vector` is immutable). */
const lexemeMemo = new WeakMap<CatalogDb, Map<string, string[]>>();
/** Terms remembered per database: plenty for a catalog's vocabulary, bounded memory. */
const LEXEME_MEMO_ENTRIES = 10_000;

/**
 * The terms run through the same tokenizer as the documents (`catalog_search_vector`, so case
 * and diacritics fold alike), and the match condition: every lexeme as a prefix. A lexeme of
 * up to {@link SHORT_PREFIX} characters is one entry of the `search_prefixes` GIN index (one
 * posting list) instead of a prefix scan of `search`'s, which merges the posting lists of every
 * word starting so (slow for one or two letters). A term that yields no lexeme (only combining
 * marks) is dropped, as FTS5 ignores an empty phrase; with none left, undefined: nothing
 * matches, as in SQLite. Lexemes are alphanumeric (punctuation was removed), so quoting them
 * makes a valid tsquery.
 */
async function searchMatch(db: CatalogDb, terms: readonly string[]): Promise<SearchMatch | undefined> {
  let memo = lexemeMemo.get(db);
  if (!memo) lexemeMemo.set(db, (memo = new Map()));
  const missing = [...new Set(terms.filter((t) => !memo.has(t)))];
  if (missing.length > 0) {
    const { rows } = await sql<{ term: string; lexemes: string[] | null }>`
      SELECT t.term, (SELECT array_agg(v.lexeme) FROM unnest(catalog_search_vector(t.term, '')) AS v) AS lexemes
      FROM unnest(${missing}::text[]) AS t(term)`.execute(db);
    if (memo.size + rows.length > LEXEME_MEMO_ENTRIES) memo.clear();
    for (const r of rows) memo.set(r.term, r.lexemes ?? []);
  }
  const lexemes = terms.flatMap((t, i) => (memo.get(t) ?? []).map((lexeme) => ({ ord: i + 1, lexeme })));
  if (lexemes.length === 0) return undefined;
  const quote = (l: string): string => `'${l.replaceAll("'", "''")}'`;
  const short = lexemes.filter((l) => [...l.lexeme].length <= SHORT_PREFIX).map((l) => quote(l.lexeme));
  const long = lexemes.filter((l) => [...l.lexeme].length > SHORT_PREFIX).map((l) => `${quote(l.lexeme)}:*`);
  const conds = [
    ...(long.length ? [sql`p.search @@ ${long.join(" & ")}::tsquery`] : []),
    ...(short.length ? [sql`p.search_prefixes @@ ${short.join(" & ")}::tsquery`] : []),
  ];
  return { lexemes, where: sql.join(conds, sql` AND `) };
}

/**
 * What bm25 needs besides the row: `stats(n, avgdl)` over the whole table (FTS5's row count
 * and average tokens per row; a category filter does not change them) and
 * `idf(ord, lexeme, idf)` per lexeme, from the number of rows it matches (GIN, counted up to
 * `dfCap` when given). The totals come from `search_state`, kept by triggers (migration 6),
 * like FTS5 reading the totals its index keeps, instead of a scan of `products` per search.
 */
const searchCtes = (m: SearchMatch, dfCap?: number): RawBuilder<unknown> => {
  const cap = dfCap !== undefined ? sql`LIMIT ${dfCap}` : sql``;
  return sql`
  terms AS (
    SELECT * FROM unnest(${m.lexemes.map((l) => l.ord)}::int[], ${m.lexemes.map((l) => l.lexeme)}::text[]) AS t(ord, lexeme)
  ),
  stats AS (
    SELECT products::float8 AS n, tokens::float8 / greatest(products, 1)::float8 AS avgdl FROM search_state WHERE id = 1
  ),
  idf AS MATERIALIZED (
    -- Computed once per search: referenced only inside the per-row bm25 subquery, PostgreSQL
    -- would otherwise inline it there and count every term's matches again for every row.
    -- A term in more than half the rows would get a negative IDF; FTS5 uses 1e-6 instead.
    -- Short lexemes count on search_prefixes, long ones on search (only one branch runs).
    SELECT terms.ord, terms.lexeme, CASE WHEN l.v <= 0 THEN 1e-6::float8 ELSE l.v END AS idf
    FROM terms CROSS JOIN stats
    CROSS JOIN LATERAL (
      SELECT count(*)::float8 AS n FROM (
        (SELECT 1 FROM products WHERE char_length(terms.lexeme) <= ${SHORT_PREFIX}
          AND search_prefixes @@ quote_literal(terms.lexeme)::tsquery ${cap})
        UNION ALL
        (SELECT 1 FROM products WHERE char_length(terms.lexeme) > ${SHORT_PREFIX}
          AND search @@ (quote_literal(terms.lexeme) || ':*')::tsquery ${cap})
      ) h
    ) hits
    CROSS JOIN LATERAL (SELECT ln((stats.n - hits.n + 0.5::float8) / (hits.n + 0.5::float8)) AS v) l
  )`;
};

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
