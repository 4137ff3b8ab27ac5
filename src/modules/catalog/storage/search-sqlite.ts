import { sql } from "kysely";
import { type CatalogDb, PRODUCT_COLUMNS } from "./tables.ts";
import type { ProductFilter, ProductPageQuery, ProductRecord } from "./types.ts";

/** bm25 column weights (name, description): a name hit counts ten times a description hit. */
const BM25 = sql.raw("bm25(products_search, 10.0, 1.0)");

/**
 * Turns plain word tokens into an FTS5 MATCH expression: each becomes a quoted prefix query
 * `"term"*` (implicitly AND-ed). Quoting makes FTS operators (`OR`, `NEAR`, `*`, `:`) literal
 * text, so user input cannot change the query's structure; quotes are doubled, FTS5's escape.
 * @example toFtsQuery(["espres", "or"]) // '"espres"* "or"*'
 */
export function toFtsQuery(terms: readonly string[]): string {
  return terms.map((t) => `"${t.replaceAll('"', '""')}"*`).join(" ");
}

/**
 * One search page on SQLite (FTS5): rows matching every term as a prefix, ordered by bm25
 * (lower is better, FTS5's sign) then id, strictly after `q.after`, at most `limit` rows.
 *
 * A broad search, matching more than `candidates` products (its totalCount is bounded too),
 * ranks only its first `candidates` matches in index order (insertion order: the FTS5 rowid)
 * instead of scoring and sorting every match: their scores are exact (same MATCH, same
 * statistics), and the set is the same for every page of the search while the catalog does
 * not change. A search matching at most `candidates` products is ranked over all of them,
 * exactly as without the bound.
 * @param q `terms` non-empty; `after`, when set, a rank position.
 * @param candidates integer ≥ 1, or Infinity (rank every match).
 */
export async function sqliteSearchPage(
  db: CatalogDb,
  q: ProductPageQuery,
  limit: number,
  candidates = Number.POSITIVE_INFINITY,
): Promise<(ProductRecord & { score: number })[]> {
  const match = toFtsQuery(q.terms ?? []);
  const category = q.categoryId !== undefined ? sql`AND p.category_id = ${q.categoryId}` : sql``;
  let first: number[] | undefined;
  if (Number.isFinite(candidates)) {
    // At most candidates + 1 rows: FTS5 stops there, however broad the term.
    const join = q.categoryId !== undefined ? sql`JOIN products p ON p.seq = products_search.rowid` : sql``;
    const { rows } = await sql<{ seq: number }>`SELECT products_search.rowid AS seq FROM products_search ${join}
      WHERE products_search MATCH ${match} ${category} ORDER BY products_search.rowid LIMIT ${candidates + 1}`.execute(db);
    if (rows.length > candidates) first = rows.slice(0, candidates).map((r) => r.seq);
  }
  // A broad search: the candidates' rowid range bounds FTS5's scan (it seeks there), and each
  // match in it is checked against the list (`+ 0`: an IN list pushed into FTS5 would restart
  // the query, and bm25's statistics, once per candidate).
  const only = first
    ? sql`AND products_search.rowid BETWEEN ${first[0]} AND ${first.at(-1)}
      AND products_search.rowid + 0 IN (SELECT value FROM json_each(${JSON.stringify(first)}))`
    : sql``;
  const after = q.after ? sql`WHERE (score, id) > (${q.after.key}, ${q.after.id})` : sql``;
  const { rows } = await sql<ProductRecord & { score: number }>`SELECT * FROM (
      SELECT ${PRODUCT_COLUMNS}, ${BM25} AS score
      FROM products_search JOIN products p ON p.seq = products_search.rowid JOIN categories c ON c.id = p.category_id
      WHERE products_search MATCH ${match} ${category} ${only}
    ) ${after}
    ORDER BY score, id LIMIT ${limit}`.execute(db);
  return rows;
}

/**
 * Number of products matching every term of `f.terms` (non-empty) as a prefix, on SQLite (FTS5),
 * counting at most `bound + 1` matches: the result is exact when it is ≤ `bound`, and `bound + 1`
 * means "more than `bound`". FTS5 walks its doclists lazily, so a broad term stops after
 * `bound + 1` rows instead of counting every match. `bound` = Infinity: an exact count.
 */
export async function sqliteSearchCount(db: CatalogDb, f: ProductFilter, bound = Number.POSITIVE_INFINITY): Promise<number> {
  const match = toFtsQuery(f.terms ?? []);
  // -1: no LIMIT in SQLite.
  const limit = Number.isFinite(bound) ? bound + 1 : -1;
  // Without a category: the index alone. Its triggers keep it row for row in step with
  // products, and not visiting every match's product row makes a common word's count ~20x cheaper.
  const { rows } =
    f.categoryId === undefined
      ? await sql<{ n: number }>`SELECT count(*) AS n FROM (
          SELECT 1 FROM products_search WHERE products_search MATCH ${match} LIMIT ${limit})`.execute(db)
      : await sql<{ n: number }>`SELECT count(*) AS n FROM (
          SELECT 1 FROM products_search JOIN products p ON p.seq = products_search.rowid
          WHERE products_search MATCH ${match} AND p.category_id = ${f.categoryId} LIMIT ${limit})`.execute(db);
  return Number(rows[0]?.n ?? 0);
}
