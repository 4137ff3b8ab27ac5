import {
  AppError,
  ErrorCode,
  isPgUniqueViolation,
  migratePostgres,
  openPostgres,
  PostgresOutbox,
  type Headers,
  type Logger,
  type PgSql,
  type PgTx,
} from "../../../kernel/index.ts";
import { productChangedEntry, stockChangedEntries, type CatalogOutboxEntry } from "./events.ts";
import { CatalogEvents, type ReleaseStockRequest, type ReservedItem, type ReserveStockRequest } from "../contract/index.ts";
import { OrderEvents } from "../../order/contract/events.ts";
import { CATALOG_PG_MIGRATIONS } from "./migrations.pg.ts";
import { checkReservationTotal } from "../reservation-total.ts";
import { DEFAULT_SEARCH_CACHE_ENTRIES, SearchCache, type SearchCacheSource } from "./search-cache.ts";
import type {
  CatalogEventOptions,
  CatalogStore,
  CategoryRecord,
  CommitOutcome,
  CreateProductRecord,
  NewCategory,
  ProductChanges,
  ProductFilter,
  ProductPage,
  ProductPageQuery,
  ProductRecord,
  ReleaseOutcome,
  ReserveOutcome,
  StockLevel,
} from "./types.ts";

/** A product row as selected (`createdAt` still a Date). */
type ProductRow = Omit<ProductRecord, "createdAt"> & { createdAt: Date };

const toRecord = ({ createdAt, ...rest }: ProductRow): ProductRecord => ({ ...rest, createdAt: createdAt.toISOString() });

/**
 * Opens a pool on the catalog database, migrates it and returns a store on it.
 * @param url PostgreSQL URL (its `search_path` parameter selects the schema); UTF8 database.
 * @throws MigrationError when the database was migrated by newer code; the driver's error
 *   when the database is unreachable. The pool is closed on failure.
 */
export async function openPostgresCatalogStore(
  url: string,
  opts: { poolMax: number; logger?: Logger; searchCacheEntries?: number },
): Promise<PostgresCatalogStore> {
  const sql = openPostgres(url, opts);
  try {
    await migratePostgres(sql, CATALOG_PG_MIGRATIONS);
  } catch (err) {
    await sql.end({ timeout: 5 });
    throw err;
  }
  return new PostgresCatalogStore(sql, opts.searchCacheEntries);
}

/**
 * {@link CatalogStore} on a PostgreSQL pool, behaving like the SQLite store:
 *
 * - Search finds and orders what FTS5 does: the same tokens (see migration 2), every term a
 *   prefix, all terms required, and relevance by the formula of FTS5's `bm25()` (Okapi BM25,
 *   k1 = 1.2, b = 0.75, IDF floored at 1e-6, name hits weighted 10, description hits 1),
 *   computed from the GIN-indexed `search` tsvector. `ts_rank` would be cheaper but orders
 *   differently (no IDF, another length normalisation), so page contents would differ.
 *   The rank key is the negated score (lower is better), as in SQLite.
 * - Stock: writes run in READ COMMITTED transactions that lock the product rows they change
 *   in id order (so two multi-item reservations cannot deadlock) and decrement only where
 *   `stock >= quantity`; reservation and event ids are primary keys, so a concurrent
 *   duplicate waits for the first and then sees its outcome.
 * - Search rankings and counts are cached per search generation ({@link SearchCache}).
 */
export class PostgresCatalogStore implements CatalogStore, SearchCacheSource {
  readonly outbox: PostgresOutbox;
  private readonly searchCache: SearchCache;

  /** @param searchCacheEntries searches whose ranking and count are cached; 0 = no cache. */
  constructor(
    readonly sql: PgSql,
    searchCacheEntries: number = DEFAULT_SEARCH_CACHE_ENTRIES,
  ) {
    this.outbox = new PostgresOutbox(sql);
    this.searchCache = new SearchCache(this, searchCacheEntries);
  }

  /** Writes outbox entries in transaction `tx`. */
  private async addEvents(tx: PgTx, entries: readonly CatalogOutboxEntry[], headers: Headers): Promise<void> {
    for (const e of entries) await this.outbox.add(tx, e.subject, e.event, headers);
  }

  async reserve(req: ReserveStockRequest, opts: CatalogEventOptions = {}): Promise<ReserveOutcome> {
    const out = await this.sql.begin(async (tx): Promise<ReserveOutcome> => {
      const o = await this.reserveInTx(tx, req);
      // In the same transaction (outbox): a stock change and its announcement commit together.
      await this.addEvents(tx, stockChangedEntries(o.changes), opts.headers ?? {});
      return o;
    });
    if (out.changes.length > 0) void this.outbox.committed([CatalogEvents.stockChanged]);
    return out;
  }

  async release(req: ReleaseStockRequest, opts: CatalogEventOptions = {}): Promise<ReleaseOutcome> {
    const out = await this.sql.begin(async (tx): Promise<ReleaseOutcome> => {
      const o = await this.releaseInTx(tx, req);
      await this.addEvents(tx, stockChangedEntries(o.changes), opts.headers ?? {});
      return o;
    });
    if (out.changes.length > 0) void this.outbox.committed([CatalogEvents.stockChanged]);
    return out;
  }

  async productsByIds(ids: readonly string[]): Promise<ProductRecord[]> {
    if (ids.length === 0) return [];
    const sql = this.sql;
    const rows = await sql<ProductRow[]>`
      SELECT ${productColumns(sql)} FROM products p JOIN categories c ON c.id = p.category_id
      WHERE p.id = ANY(${sql.array([...ids])}::text[])`;
    return rows.map(toRecord);
  }

  async categoriesByIds(ids: readonly string[]): Promise<CategoryRecord[]> {
    if (ids.length === 0) return [];
    return [...(await this.sql<CategoryRecord[]>`SELECT id, name FROM categories WHERE id = ANY(${this.sql.array([...ids])}::text[])`)];
  }

  async listCategories(): Promise<CategoryRecord[]> {
    return [...(await this.sql<CategoryRecord[]>`SELECT id, name FROM categories ORDER BY name, id`)];
  }

  async listProducts(q: ProductPageQuery): Promise<ProductPage> {
    return q.terms?.length ? this.searchCache.listProducts(q) : this.listProductsUncached(q);
  }

  async countProducts(f: ProductFilter): Promise<number> {
    return f.terms?.length ? this.searchCache.countProducts(f) : this.countProductsUncached(f);
  }

  async searchGeneration(): Promise<number> {
    // float8: bigint arrives as a string; exact up to 2^53 changes.
    const [row] = await this.sql<{ g: number }[]>`SELECT generation::float8 AS g FROM search_state WHERE id = 1`;
    return row?.g ?? 0;
  }

  /** A page straight from the database (the search cache's source of truth). */
  async listProductsUncached(q: ProductPageQuery): Promise<ProductPage> {
    const sql = this.sql;
    // One row more than asked tells whether another page follows.
    const limit = q.first + 1;
    const category = q.categoryId !== undefined ? sql`AND p.category_id = ${q.categoryId}` : sql``;
    if (q.terms?.length) {
      if (q.after && q.after.order !== "rank") throw new RangeError("a search page continues only from a rank position");
      const after = q.after ? sql`WHERE (score, id) > (${q.after.key}::float8, ${q.after.id})` : sql``;
      const rows = await sql<(ProductRow & { score: number })[]>`
        WITH ${searchCtes(sql, q.terms)},
        ranked AS (
          SELECT ${productColumns(sql)}, ${bm25(sql)} AS score
          FROM products p JOIN categories c ON c.id = p.category_id CROSS JOIN stats
          WHERE p.search @@ (SELECT tsq FROM query) ${category}
        )
        SELECT * FROM ranked ${after} ORDER BY score, id LIMIT ${limit}`;
      const items = rows.slice(0, q.first).map(({ score, ...row }) => {
        const product = toRecord(row);
        return { product, position: { order: "rank" as const, key: score, id: product.id } };
      });
      return { items, hasNextPage: rows.length > q.first };
    }

    if (q.after && q.after.order !== "name") throw new RangeError("a listing page continues only from a name position");
    const after = q.after ? sql`AND (p.name, p.id) > (${q.after.key}, ${q.after.id})` : sql``;
    const rows = await sql<ProductRow[]>`
      SELECT ${productColumns(sql)} FROM products p JOIN categories c ON c.id = p.category_id
      WHERE true ${category} ${after}
      ORDER BY p.name, p.id LIMIT ${limit}`;
    const items = rows.slice(0, q.first).map((row) => {
      const product = toRecord(row);
      return { product, position: { order: "name" as const, key: product.name, id: product.id } };
    });
    return { items, hasNextPage: rows.length > q.first };
  }

  /** A count straight from the database. */
  async countProductsUncached(f: ProductFilter): Promise<number> {
    const sql = this.sql;
    const category = f.categoryId !== undefined ? sql`AND p.category_id = ${f.categoryId}` : sql``;
    const [row] = f.terms?.length
      ? await sql<{ n: number }[]>`
          WITH ${termCtes(sql, f.terms)}
          SELECT count(*) AS n FROM products p WHERE p.search @@ (SELECT tsq FROM query) ${category}`
      : await sql<{ n: number }[]>`SELECT count(*) AS n FROM products p WHERE true ${category}`;
    return row?.n ?? 0;
  }

  private reserveInTx(tx: PgTx, req: ReserveStockRequest): Promise<ReserveOutcome> {
    return (async (): Promise<ReserveOutcome> => {
      const now = new Date().toISOString();
      // Claims the id first: a concurrent duplicate blocks here until this transaction ends,
      // then finds the row (committed) or inserts it itself (this one rolled back).
      const claimed = await tx`
        INSERT INTO reservations (id, status, created_at, updated_at) VALUES (${req.reservationId}, 'held', ${now}, ${now})
        ON CONFLICT (id) DO NOTHING RETURNING id`;
      if (claimed.length === 0) {
        const [existing] = await tx<{ status: string }[]>`SELECT status FROM reservations WHERE id = ${req.reservationId}`;
        if (existing?.status === "released") {
          // Re-holding would hand stock to an order its caller already gave up on.
          throw new AppError(ErrorCode.CONFLICT, `reservation ${req.reservationId} was released`, { reservationId: req.reservationId });
        }
        return {
          reservation: { reservationId: req.reservationId, items: await reservedItems(tx, req.reservationId) },
          created: false,
          changes: [],
        };
      }

      // Locks every product of the request in id order (deadlock-free), then checks them in
      // request order so the error names the same item as the SQLite store would.
      const ids = req.items.map((i) => i.productId);
      const locked = await tx<{ id: string; stock: number; priceCents: number; currency: string }[]>`
        SELECT id, stock, price_cents AS "priceCents", currency FROM products
        WHERE id = ANY(${tx.array(ids)}::text[]) ORDER BY id FOR NO KEY UPDATE`;
      const byId = new Map(locked.map((p) => [p.id, p]));
      for (const item of req.items) {
        const p = byId.get(item.productId);
        // Throwing rolls back the claim above, so the id stays usable for a retry.
        if (!p) throw new AppError(ErrorCode.NOT_FOUND, `product ${item.productId} not found`, { productId: item.productId });
        if (p.stock < item.quantity) {
          throw new AppError(ErrorCode.OUT_OF_STOCK, `only ${p.stock} of product ${item.productId} available, ${item.quantity} requested`, {
            productId: item.productId,
            requested: item.quantity,
            available: p.stock,
          });
        }
      }
      const items: ReservedItem[] = req.items.map((i) => {
        const p = byId.get(i.productId) as { priceCents: number; currency: string };
        return { productId: i.productId, quantity: i.quantity, unitPriceCents: p.priceCents, currency: p.currency };
      });
      // At the prices read under the row locks, before any write (throwing rolls back the claim).
      checkReservationTotal(items, req.maxTotalCents);
      // Still conditional: the invariant must not depend on the check above being right.
      const updated = await tx<{ id: string; stock: number }[]>`
        UPDATE products p SET stock = p.stock - i.quantity
        FROM unnest(${tx.array(ids)}::text[], ${tx.array(req.items.map((i) => i.quantity))}::integer[]) AS i(id, quantity)
        WHERE p.id = i.id AND p.stock >= i.quantity
        RETURNING p.id, p.stock`;
      if (updated.length !== req.items.length) throw new Error(`reservation ${req.reservationId}: stock changed under a row lock`);
      const stockAfter = new Map(updated.map((u) => [u.id, u.stock]));
      await tx`
        INSERT INTO reservation_items (reservation_id, position, product_id, quantity, unit_price_cents, currency)
        SELECT ${req.reservationId}, i.ord - 1, i.product_id, i.quantity, i.unit_price_cents, i.currency
        FROM unnest(
          ${tx.array(items.map((i) => i.productId))}::text[],
          ${tx.array(items.map((i) => i.quantity))}::integer[],
          ${tx.array(items.map((i) => i.unitPriceCents))}::bigint[],
          ${tx.array(items.map((i) => i.currency))}::text[]
        ) WITH ORDINALITY AS i(product_id, quantity, unit_price_cents, currency, ord)`;
      const changes: StockLevel[] = req.items.map((i) => ({ productId: i.productId, stock: stockAfter.get(i.productId) as number }));
      return { reservation: { reservationId: req.reservationId, items }, created: true, changes };
    })();
  }

  private releaseInTx(tx: PgTx, req: ReleaseStockRequest): Promise<ReleaseOutcome> {
    return (async (): Promise<ReleaseOutcome> => {
      const now = new Date().toISOString();
      // An unknown id is recorded as released first (no items): a reserve with this id that
      // arrives later (a request delayed on the bus after its order gave up) is refused with
      // CONFLICT instead of holding stock that no order and no intent will ever release. If a
      // reserve of this id is in flight, the insert waits for it; once it committed, the
      // insert does nothing and the update below (a new snapshot) releases what it reserved.
      await tx`
        INSERT INTO reservations (id, status, created_at, updated_at) VALUES (${req.reservationId}, 'released', ${now}, ${now})
        ON CONFLICT (id) DO NOTHING`;
      // The row lock makes concurrent releases of one id wait; they then see 'released'.
      const held = await tx`
        UPDATE reservations SET status = 'released', updated_at = ${now}
        WHERE id = ${req.reservationId} AND status = 'held' RETURNING id`;
      if (held.length === 0) return { released: false, changes: [] };
      const items = await reservedItems(tx, req.reservationId);
      // Same lock order as reserve (product id), so a release and a reserve cannot deadlock.
      await tx`
        SELECT id FROM products WHERE id = ANY(${tx.array(items.map((i) => i.productId))}::text[]) ORDER BY id FOR NO KEY UPDATE`;
      const restocked = await tx<{ id: string; stock: number }[]>`
        UPDATE products p SET stock = p.stock + ri.quantity
        FROM reservation_items ri
        WHERE ri.reservation_id = ${req.reservationId} AND p.id = ri.product_id
        RETURNING p.id, p.stock`;
      const stockAfter = new Map(restocked.map((r) => [r.id, r.stock]));
      // Products cannot be deleted while reservation items reference them (foreign key).
      const changes = items.flatMap((i): StockLevel[] => {
        const stock = stockAfter.get(i.productId);
        return stock === undefined ? [] : [{ productId: i.productId, stock }];
      });
      return { released: true, changes };
    })();
  }

  async commit(reservationId: string, eventId: string): Promise<CommitOutcome> {
    return this.sql.begin(async (tx): Promise<CommitOutcome> => {
      const now = new Date().toISOString();
      const fresh = await tx`
        INSERT INTO processed_events (event_id, subject, processed_at) VALUES (${eventId}, ${OrderEvents.statusChanged}, ${now})
        ON CONFLICT (event_id) DO NOTHING RETURNING event_id`;
      if (fresh.length === 0) return "duplicate";
      const updated = await tx`
        UPDATE reservations SET status = 'committed', updated_at = ${now} WHERE id = ${reservationId} AND status = 'held' RETURNING id`;
      if (updated.length > 0) return "committed";
      const [row] = await tx<{ status: string }[]>`SELECT status FROM reservations WHERE id = ${reservationId}`;
      if (row?.status === "committed") return "already-committed";
      if (row?.status === "released") return "released";
      return "unknown";
    });
  }

  async seedIfEmpty(categories: readonly NewCategory[]): Promise<number> {
    return this.sql.begin(async (tx): Promise<number> => {
      // Self-conflicting lock, taken before the emptiness check: two instances starting
      // together queue here, and the second finds the first one's products.
      await tx`LOCK TABLE products IN SHARE ROW EXCLUSIVE MODE`;
      const [any] = await tx`SELECT 1 FROM products LIMIT 1`;
      if (any) return 0;
      const products = categories.flatMap((c) => c.products.map((p) => ({ ...p, categoryId: c.id })));
      await tx`
        INSERT INTO categories (id, name)
        SELECT * FROM unnest(${tx.array(categories.map((c) => c.id))}::text[], ${tx.array(categories.map((c) => c.name))}::text[])`;
      if (products.length > 0) {
        await tx`
          INSERT INTO products (id, category_id, name, description, price_cents, currency, stock, created_at)
          SELECT * FROM unnest(
            ${tx.array(products.map((p) => p.id))}::text[],
            ${tx.array(products.map((p) => p.categoryId))}::text[],
            ${tx.array(products.map((p) => p.name))}::text[],
            ${tx.array(products.map((p) => p.description))}::text[],
            ${tx.array(products.map((p) => p.priceCents))}::bigint[],
            ${tx.array(products.map((p) => p.currency))}::text[],
            ${tx.array(products.map((p) => p.stock))}::integer[],
            ${tx.array(products.map((p) => p.createdAt))}::timestamptz[]
          )`;
      }
      return products.length;
    });
  }

  async createCategory(category: CategoryRecord): Promise<CategoryRecord> {
    try {
      await this.sql`INSERT INTO categories (id, name) VALUES (${category.id}, ${category.name})`;
    } catch (err) {
      // Migration 1's UNIQUE (name) constraint, under PostgreSQL's default name.
      if (isPgUniqueViolation(err, "categories_name_key"))
        throw new AppError(ErrorCode.CONFLICT, `a category named "${category.name}" exists`, { name: category.name });
      throw err;
    }
    return { id: category.id, name: category.name };
  }

  async createProduct(p: CreateProductRecord, opts: CatalogEventOptions = {}): Promise<ProductRecord> {
    const entries = [productChangedEntry(p.id, "created")];
    await this.sql.begin(async (tx) => {
      // INSERT … SELECT from the category: no row inserted means no such category (and the
      // foreign key keeps it from vanishing mid-statement). The generated search columns are
      // computed in the same statement, so the product is searchable once this commits.
      const inserted = await tx`
        INSERT INTO products (id, category_id, name, description, price_cents, currency, stock, created_at)
        SELECT ${p.id}, id, ${p.name}, ${p.description}, ${p.priceCents}, ${p.currency}, ${p.stock}, ${p.createdAt}
        FROM categories WHERE id = ${p.categoryId}
        RETURNING id`;
      if (inserted.length === 0)
        throw new AppError(ErrorCode.NOT_FOUND, `category ${p.categoryId} not found`, { categoryId: p.categoryId });
      await this.addEvents(tx, entries, opts.headers ?? {});
    });
    await this.outbox.committed([CatalogEvents.productChanged]);
    return (await this.productById(p.id)) as ProductRecord;
  }

  async updateProduct(id: string, c: ProductChanges, opts: CatalogEventOptions = {}): Promise<ProductRecord | null> {
    const found = await this.sql.begin(async (tx) => {
      // COALESCE keeps a column when its change is absent; the generated search columns are
      // recomputed by the same UPDATE, so search sees the new text once it commits.
      const updated = await tx`
        UPDATE products SET
          name = COALESCE(${c.name ?? null}::text, name),
          description = COALESCE(${c.description ?? null}::text, description),
          price_cents = COALESCE(${c.priceCents ?? null}::bigint, price_cents)
        WHERE id = ${id} RETURNING id`;
      if (updated.length === 0) return false;
      await this.addEvents(tx, [productChangedEntry(id, "updated")], opts.headers ?? {});
      return true;
    });
    if (!found) return null;
    await this.outbox.committed([CatalogEvents.productChanged]);
    return this.productById(id);
  }

  async setStock(id: string, stock: number, opts: CatalogEventOptions = {}): Promise<ProductRecord | null> {
    const found = await this.sql.begin(async (tx) => {
      const updated = await tx<{ stock: number }[]>`UPDATE products SET stock = ${stock} WHERE id = ${id} RETURNING stock`;
      const row = updated[0];
      if (!row) return false;
      const at = new Date().toISOString();
      await this.addEvents(
        tx,
        [...stockChangedEntries([{ productId: id, stock: row.stock }], at), productChangedEntry(id, "stock", at)],
        opts.headers ?? {},
      );
      return true;
    });
    if (!found) return null;
    await this.outbox.committed([CatalogEvents.stockChanged, CatalogEvents.productChanged]);
    return this.productById(id);
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }

  private async productById(id: string): Promise<ProductRecord | null> {
    const [row] = await this.productsByIds([id]);
    return row ?? null;
  }
}

/** Columns of a {@link ProductRow}, from `products p JOIN categories c`. */
const productColumns = (sql: PgSql) => sql`
  p.id, p.name, p.description, p.price_cents AS "priceCents", p.currency, p.stock,
  p.category_id AS "categoryId", c.name AS "categoryName", p.created_at AS "createdAt"`;

/** Items of a reservation in request order. */
async function reservedItems(tx: PgTx, reservationId: string): Promise<ReservedItem[]> {
  return [
    ...(await tx<ReservedItem[]>`
      SELECT product_id AS "productId", quantity, unit_price_cents AS "unitPriceCents", currency
      FROM reservation_items WHERE reservation_id = ${reservationId} ORDER BY position`),
  ];
}

/**
 * CTEs `terms(ord, lexeme)` and `query(tsq)`: each search term run through the same
 * tokenizer as the documents (`catalog_search_vector`, so case and diacritics fold alike),
 * and their AND as prefix matches (`'term':*`). A term that yields no lexeme (only combining
 * marks) is dropped, as FTS5 ignores an empty phrase; with none left, `tsq` is NULL and
 * nothing matches, as in SQLite. The lexemes are alphanumeric (punctuation was removed), so
 * quoting them makes a valid tsquery.
 */
const termCtes = (sql: PgSql, terms: readonly string[]) => sql`
  terms AS (
    SELECT t.ord, v.lexeme
    FROM unnest(${sql.array([...terms])}::text[]) WITH ORDINALITY AS t(term, ord)
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
const searchCtes = (sql: PgSql, terms: readonly string[]) => sql`
  ${termCtes(sql, terms)},
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
const bm25 = (sql: PgSql) => sql`-(
  SELECT sum(
    idf.idf * ((f.freq * (1.2::float8 + 1.0::float8)) / (f.freq + 1.2::float8 * (1.0::float8 - 0.75::float8 + 0.75::float8 * p.search_tokens / stats.avgdl)))
    ORDER BY idf.ord, idf.lexeme)
  FROM idf CROSS JOIN LATERAL (
    SELECT coalesce(sum(CASE w WHEN 'A' THEN 10.0::float8 ELSE 1.0::float8 END), 0::float8) AS freq
    FROM unnest(p.search) AS v CROSS JOIN LATERAL unnest(v.weights) AS w
    WHERE starts_with(v.lexeme, idf.lexeme)
  ) f
)`;
