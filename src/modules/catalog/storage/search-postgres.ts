import { type RawBuilder, sql } from "kysely";
import { SEARCH_RANK_CANDIDATES } from "../search.ts";
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
 * matches in scan order (as SQLite does in its index order, see search-sqlite.ts), each with
 * its exact score (IDF from the exact frequencies `search_terms` keeps). A search matching at
 * most `candidates` products is ranked over all of them, exactly as without the bound. Two
 * statements: the terms' lexemes and frequencies (which choose the plan, see
 * {@link matchCondition}), then the page.
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
  // A category filter: the frequencies are the whole catalog's, a scan would read ~50x the
  // rows they predict before its LIMIT stops it, so the indexes (and the planner) decide.
  const m = await searchMatch(db, q.terms ?? [], Number.isFinite(candidates) && q.categoryId === undefined);
  if (!m) return [];
  const category = q.categoryId !== undefined ? sql`AND p.category_id = ${q.categoryId}` : sql``;
  // One statement: the matches (at most `candidates`: the scan stops there, however broad the
  // term), their scores with IDF from search_terms, the page.
  const bound = Number.isFinite(candidates) ? sql`LIMIT ${candidates}` : sql``;
  const after = q.after ? sql`WHERE (score, id) > (${q.after.key}::float8, ${q.after.id})` : sql``;
  const { rows } = await sql<ProductRecord & { score: number }>`
    WITH ${searchCtes(m)},
    hits AS MATERIALIZED (
      SELECT p.id, p.name, p.description, p.price_cents, p.currency, p.stock, p.category_id, p.created_at, p.search, p.search_tokens
      FROM products p WHERE ${m.where} ${category} ${bound}
    ),
    ranked AS (
      SELECT ${PRODUCT_COLUMNS}, ${BM25} AS score
      FROM hits p JOIN categories c ON c.id = p.category_id CROSS JOIN stats
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
 * Runs `f` in a transaction planned per execution (`plan_cache_mode = force_custom_plan`), whose
 * sequential scans start at the table's first block (`synchronize_seqscans = off`): the
 * driver prepares every statement, and after five executions PostgreSQL would switch to a
 * generic plan that knows nothing of the tsquery and takes every term for rare (500 rows), so
 * a prefix matching half the catalog got a whole-bitmap GIN scan where a sequential scan with
 * LIMIT finds its 1,001 rows at once. Planning a search costs far less than a wrong plan.
 */
async function customPlans<T>(db: CatalogDb, f: (trx: CatalogDb) => Promise<T>): Promise<T> {
  return db.transaction().execute(async (trx) => {
    // Both as SET LOCAL, in one round trip. synchronize_seqscans: a broad search ranks its first
    // 1,000 matches in scan order; with synchronized scans (on by default, for tables over a
    // quarter of shared_buffers) a scan starts where a concurrent one is, so page 2 could rank
    // another 1,000 than page 1 did. Off: every scan starts at block 0.
    await sql`SELECT set_config('plan_cache_mode', 'force_custom_plan', true), set_config('synchronize_seqscans', 'off', true)`.execute(
      trx,
    );
    return f(trx);
  });
}

async function searchCount(db: CatalogDb, f: ProductFilter, bound: number): Promise<number> {
  const m = await searchMatch(db, f.terms ?? [], Number.isFinite(bound) && f.categoryId === undefined);
  if (!m) return 0;
  const category = f.categoryId !== undefined ? sql`AND p.category_id = ${f.categoryId}` : sql``;
  const limit = Number.isFinite(bound) ? sql`LIMIT ${bound + 1}` : sql``;
  const { rows } = await sql<{ n: number }>`
    SELECT count(*) AS n FROM (SELECT 1 FROM products p WHERE ${m.where} ${category} ${limit}) hits`.execute(db);
  return Number(rows[0]?.n ?? 0);
}

/** Lexemes of at most this many characters are looked up in `search_prefixes` (migration 9). */
const SHORT_PREFIX = 3;

/**
 * Cost of a sequential scan per row read, relative to a GIN posting read into a bitmap (both
 * from EXPLAIN ANALYZE of the generated catalog: ~3 µs per row, a tsvector filter evaluated on
 * each; ~0.3 µs per posting). A search is read by a scan that stops at its LIMIT when that
 * reads fewer row-equivalents than the postings the bitmap of its indexed terms would collect:
 * a bitmap is built whole before the first row comes out (128 ms for a 2-letter prefix at 1M
 * products), while the scan finds a broad search's candidates among its first rows.
 */
const SCAN_ROW_COST = 10;
/**
 * A term matching more than this many times as many products as the rarest term is checked
 * on the rows the index finds for the rarer terms, not looked up in the index: a bitmap AND
 * with a broad term's bitmap costs that term's every posting, to drop most of them.
 */
const FILTER_RATIO = 8;

/** A search's terms as lexemes, and the condition on `products p` that finds their matches. */
interface SearchMatch {
  /** Per term (in order), its lexemes, as `(ord, lexeme)`. */
  lexemes: { ord: number; lexeme: string }[];
  /** Every lexeme as a prefix, through the index or as a filter (see {@link matchCondition}). */
  where: RawBuilder<unknown>;
}

/**
 * The terms run through the same tokenizer as the documents (`catalog_search_vector`, so case
 * and diacritics fold alike), each lexeme with the number of products it matches as a prefix
 * (`search_terms`, migration 10), in one statement. `limited`: the statement reading the
 * matches has a LIMIT (it may stop early), see {@link matchCondition}. A term that yields no lexeme (only
 * combining marks) is dropped, as FTS5 ignores an empty phrase; with none left, or a lexeme no
 * product has, undefined: nothing matches, as in SQLite. Lexemes are alphanumeric
 * (punctuation was removed), so quoting them makes a valid tsquery.
 */
async function searchMatch(db: CatalogDb, terms: readonly string[], limited: boolean): Promise<SearchMatch | undefined> {
  const { rows } = await sql<{ ord: number; lexeme: string; docs: number; n: number }>`
    SELECT t.ord::int AS ord, v.lexeme, coalesce(s.docs, 0)::float8 AS docs,
      (SELECT products FROM search_state WHERE id = 1)::float8 AS n
    FROM unnest(${[...terms]}::text[]) WITH ORDINALITY AS t(term, ord)
    CROSS JOIN LATERAL unnest(catalog_search_vector(t.term, '')) AS v
    LEFT JOIN search_terms s ON s.prefix = v.lexeme
    ORDER BY t.ord, v.lexeme`.execute(db);
  if (rows.length === 0 || rows.some((r) => r.docs === 0)) return undefined;
  return { lexemes: rows.map(({ ord, lexeme }) => ({ ord, lexeme })), where: matchCondition(rows, limited) };
}

/**
 * Every lexeme as a prefix: long ones on `search` (`'lexeme':*`), short ones (up to
 * {@link SHORT_PREFIX} characters) as one entry of `search_prefixes` (one posting list instead
 * of a prefix scan merging the posting lists of every word starting so). Which conditions the
 * planner may answer from the GIN indexes is chosen from the lexemes' exact frequencies: the
 * others are written as function calls (`ts_match_vq`, the `@@` operator's function, which no
 * index serves) and checked on the rows found, see {@link SCAN_ROW_COST} and {@link FILTER_RATIO}.
 * Only a `limited` read (a LIMIT stops it) is sent to a sequential scan: an exact count reads
 * every match anyway, and the indexes find them faster.
 * The planner's own estimates cannot make these choices: it does not know how often a prefix
 * occurs, nor that a LIMIT will stop a scan long before a bitmap of every posting is built.
 */
function matchCondition(lexemes: readonly { lexeme: string; docs: number; n: number }[], limited: boolean): RawBuilder<unknown> {
  const n = Math.max(1, lexemes[0]?.n ?? 1);
  const rarest = Math.min(...lexemes.map((l) => l.docs));
  const byIndex = (docs: number): boolean => docs <= rarest * FILTER_RATIO;
  const postings = lexemes.reduce((sum, l) => sum + (byIndex(l.docs) ? l.docs : 0), 0);
  // Matches expected if the terms occur independently; the rows a scan reads to find the
  // LIMIT's (a search's candidates or a bounded count: ~1,000) among them.
  const expected = lexemes.reduce((e, l) => (e * l.docs) / n, n);
  const scanRows = expected > 0 ? Math.min(n, (SEARCH_RANK_CANDIDATES * n) / expected) : n;
  const scan = limited && scanRows * SCAN_ROW_COST < postings;
  const indexed = (docs: number): boolean => !scan && byIndex(docs);
  const quote = (l: string): string => `'${l.replaceAll("'", "''")}'`;
  const conds: RawBuilder<unknown>[] = [];
  for (const byIndex of [true, false]) {
    const mine = lexemes.filter((l) => indexed(l.docs) === byIndex);
    const short = mine.filter((l) => [...l.lexeme].length <= SHORT_PREFIX).map((l) => quote(l.lexeme));
    const long = mine.filter((l) => [...l.lexeme].length > SHORT_PREFIX).map((l) => `${quote(l.lexeme)}:*`);
    const on = (column: string, query: string[]): RawBuilder<unknown> =>
      byIndex
        ? sql`p.${sql.raw(column)} @@ ${query.join(" & ")}::tsquery`
        : sql`ts_match_vq(p.${sql.raw(column)}, ${query.join(" & ")}::tsquery)`;
    if (long.length) conds.push(on("search", long));
    if (short.length) conds.push(on("search_prefixes", short));
  }
  return sql.join(conds, sql` AND `);
}

/**
 * What bm25 needs besides the row: `stats(n, avgdl)` over the whole table (FTS5's row count
 * and average tokens per row; a category filter does not change them) and
 * `idf(ord, lexeme, idf)` per lexeme, from the number of rows it matches as a prefix. All of
 * them are kept by triggers, in `search_state` (migration 6) and `search_terms` (migration
 * 10), like FTS5 reading the totals its index keeps: no count over the index per search.
 */
const searchCtes = (m: SearchMatch): RawBuilder<unknown> => sql`
  terms AS (
    SELECT * FROM unnest(${m.lexemes.map((l) => l.ord)}::int[], ${m.lexemes.map((l) => l.lexeme)}::text[]) AS t(ord, lexeme)
  ),
  stats AS (
    SELECT products::float8 AS n, tokens::float8 / greatest(products, 1)::float8 AS avgdl FROM search_state WHERE id = 1
  ),
  idf AS MATERIALIZED (
    -- Computed once per search, not inlined into the per-row bm25 subquery.
    -- A term in more than half the rows would get a negative IDF; FTS5 uses 1e-6 instead.
    SELECT terms.ord, terms.lexeme, CASE WHEN l.v <= 0 THEN 1e-6::float8 ELSE l.v END AS idf
    FROM terms CROSS JOIN stats
    LEFT JOIN search_terms s ON s.prefix = terms.lexeme
    CROSS JOIN LATERAL (SELECT coalesce(s.docs, 0)::float8 AS n) hits
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
    -- 10 per name position ('A'), 1 per other: 9 * A-positions + all positions (integers,
    -- exact in float8 in any order), without unnesting every lexeme's weights.
    SELECT coalesce(sum(9.0::float8 * cardinality(array_positions(v.weights, 'A')) + cardinality(v.weights)), 0::float8) AS freq
    FROM unnest(p.search) AS v
    WHERE starts_with(v.lexeme, idf.lexeme)
  ) f
)`);
