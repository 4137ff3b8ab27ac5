import { AppError, ErrorCode, migrateSqlite, openSqlite, SqliteOutbox, type Database, type Headers } from "../../../kernel/index.ts";
import { GroupCommit } from "../../../kernel/storage/group-commit.ts";
import { checkReservationTotal } from "../reservation-total.ts";
import { productChangedEntry, stockChangedEntries, type CatalogOutboxEntry } from "./events.ts";
import {
  CatalogEvents as CatalogEventsSubjects,
  type ReleaseStockRequest,
  type ReservedItem,
  type ReserveStockRequest,
} from "../contract/index.ts";
import { OrderEvents } from "../../order/contract/events.ts";
import { CATALOG_MIGRATIONS } from "./migrations.ts";
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

type Bind = string | number | null;

/** True for SQLite's unique-constraint violation (bun:sqlite sets `code` on its errors). */
const isUniqueViolation = (err: unknown): boolean =>
  typeof err === "object" && err !== null && (err as { code?: unknown }).code === "SQLITE_CONSTRAINT_UNIQUE";

/** bm25 column weights (name, description): a name hit counts ten times a description hit. */
const BM25 = "bm25(products_fts, 10.0, 1.0)";

const PRODUCT_COLUMNS = `p.id, p.name, p.description, p.price_cents AS priceCents, p.currency, p.stock,
  p.category_id AS categoryId, c.name AS categoryName, p.created_at AS createdAt`;
const PRODUCT_FROM = "products p JOIN categories c ON c.id = p.category_id";
const SEARCH_FROM = "products_fts JOIN products p ON p.seq = products_fts.rowid JOIN categories c ON c.id = p.category_id";

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
 * Opens (creating and migrating) the catalog's SQLite database and returns a store on it.
 * @param path database file, or `":memory:"`.
 * @throws MigrationError when the database was migrated by newer code.
 */
export function openSqliteCatalogStore(path: string, opts: SqliteCatalogStoreOptions = {}): SqliteCatalogStore {
  const db = openSqlite(path);
  try {
    migrateSqlite(db, CATALOG_MIGRATIONS);
  } catch (err) {
    db.close();
    throw err;
  }
  return new SqliteCatalogStore(db, opts);
}

/** Tuning of {@link SqliteCatalogStore}. */
export interface SqliteCatalogStoreOptions {
  /** Searches whose ranking and count are cached (see {@link SearchCache}); 0 = no cache. Default {@link DEFAULT_SEARCH_CACHE_ENTRIES}. */
  searchCacheEntries?: number;
}

/**
 * Page cache of the catalog connection, in KiB (SQLite's negative `cache_size`). The default
 * 2 MB makes a common word's search (thousands of matches, each joined to its product row)
 * read the same pages from the OS again and again; 32 MB holds the products and the FTS index
 * of a 100,000-product catalog's hot part. Memory is taken only as pages are read.
 */
const CACHE_KIB = 32 * 1024;

/**
 * {@link CatalogStore} on bun:sqlite. Every write runs in a `BEGIN IMMEDIATE` transaction:
 * it takes the write lock up front, so two connections (two processes on one file) queue on
 * `busy_timeout` instead of failing to upgrade a read lock. Stock decrements are conditional
 * (`stock >= quantity`), so stock can never go negative whatever the interleaving.
 */
export class SqliteCatalogStore implements CatalogStore, SearchCacheSource {
  readonly db: Database;
  private readonly searchCache: SearchCache;
  readonly outbox: SqliteOutbox;
  private readonly reserveBatch: GroupCommit<[ReserveStockRequest, Headers], ReserveOutcome>;
  private readonly releaseTx;
  private readonly commitTx;
  private readonly seedTx;

  constructor(db: Database, opts: SqliteCatalogStoreOptions = {}) {
    this.db = db;
    db.exec(`PRAGMA cache_size = -${CACHE_KIB}`);
    this.searchCache = new SearchCache(this, opts.searchCacheEntries ?? DEFAULT_SEARCH_CACHE_ENTRIES);
    this.outbox = new SqliteOutbox(db);
    // Each change writes its events in its own transaction (transactional outbox).
    // Group commit: the reservations of one event-loop turn (concurrent checkouts) share one
    // transaction, each in its own savepoint: a refused one (OUT_OF_STOCK, ...) rolls back alone.
    this.reserveBatch = new GroupCommit(db, (req: ReserveStockRequest, headers: Headers) => {
      const out = this.reserveInTx(req);
      this.addEvents(stockChangedEntries(out.changes), headers);
      return out;
    });
    this.releaseTx = db.transaction((reservationId: string, headers: Headers) => {
      const out = this.releaseInTx(reservationId);
      this.addEvents(stockChangedEntries(out.changes), headers);
      return out;
    });
    this.commitTx = db.transaction((reservationId: string, eventId: string) => this.commitInTx(reservationId, eventId));
    this.seedTx = db.transaction((categories: readonly NewCategory[]) => this.seedInTx(categories));
  }

  async productsByIds(ids: readonly string[]): Promise<ProductRecord[]> {
    if (ids.length === 0) return [];
    // One statement for any batch size: the ids travel as one JSON array parameter.
    return this.db
      .query<ProductRecord, [string]>(`SELECT ${PRODUCT_COLUMNS} FROM ${PRODUCT_FROM} WHERE p.id IN (SELECT value FROM json_each(?))`)
      .all(JSON.stringify(ids));
  }

  async categoriesByIds(ids: readonly string[]): Promise<CategoryRecord[]> {
    if (ids.length === 0) return [];
    return this.db
      .query<CategoryRecord, [string]>("SELECT id, name FROM categories WHERE id IN (SELECT value FROM json_each(?))")
      .all(JSON.stringify(ids));
  }

  async listCategories(): Promise<CategoryRecord[]> {
    return this.db.query<CategoryRecord, []>("SELECT id, name FROM categories ORDER BY name, id").all();
  }

  async listProducts(q: ProductPageQuery): Promise<ProductPage> {
    return q.terms?.length ? this.searchCache.listProducts(q) : this.listProductsUncached(q);
  }

  async countProducts(f: ProductFilter): Promise<number> {
    return f.terms?.length ? this.searchCache.countProducts(f) : this.countProductsUncached(f);
  }

  async searchGeneration(): Promise<number> {
    return this.db.query<{ g: number }, []>("SELECT generation AS g FROM search_state WHERE id = 1").get()?.g ?? 0;
  }

  /** A page straight from the database (the search cache's source of truth). */
  async listProductsUncached(q: ProductPageQuery): Promise<ProductPage> {
    // One row more than asked tells whether another page follows.
    const limit = q.first + 1;
    if (q.terms?.length) {
      if (q.after && q.after.order !== "rank") throw new RangeError("a search page continues only from a rank position");
      const where = ["products_fts MATCH ?"];
      const params: Bind[] = [toFtsQuery(q.terms)];
      if (q.categoryId !== undefined) {
        where.push("p.category_id = ?");
        params.push(q.categoryId);
      }
      const outer: string[] = [];
      if (q.after) {
        outer.push("(score, id) > (?, ?)");
        params.push(q.after.key, q.after.id);
      }
      params.push(limit);
      const sql = `SELECT * FROM (
          SELECT ${PRODUCT_COLUMNS}, ${BM25} AS score
          FROM ${SEARCH_FROM}
          WHERE ${where.join(" AND ")}
        ) ${outer.length ? `WHERE ${outer.join(" AND ")}` : ""}
        ORDER BY score, id LIMIT ?`;
      const rows = this.db.query<ProductRecord & { score: number }, Bind[]>(sql).all(...params);
      const page = rows.slice(0, q.first).map(({ score, ...product }) => ({
        product,
        position: { order: "rank" as const, key: score, id: product.id },
      }));
      return { items: page, hasNextPage: rows.length > q.first };
    }

    if (q.after && q.after.order !== "name") throw new RangeError("a listing page continues only from a name position");
    const where: string[] = [];
    const params: Bind[] = [];
    if (q.categoryId !== undefined) {
      where.push("p.category_id = ?");
      params.push(q.categoryId);
    }
    if (q.after) {
      where.push("(p.name, p.id) > (?, ?)");
      params.push(q.after.key, q.after.id);
    }
    params.push(limit);
    const sql = `SELECT ${PRODUCT_COLUMNS} FROM ${PRODUCT_FROM}
      ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
      ORDER BY p.name, p.id LIMIT ?`;
    const rows = this.db.query<ProductRecord, Bind[]>(sql).all(...params);
    const page = rows.slice(0, q.first).map((product) => ({
      product,
      position: { order: "name" as const, key: product.name, id: product.id },
    }));
    return { items: page, hasNextPage: rows.length > q.first };
  }

  /** A count straight from the database. */
  async countProductsUncached(f: ProductFilter): Promise<number> {
    const where: string[] = [];
    const params: Bind[] = [];
    let from = "products p";
    if (f.terms?.length && f.categoryId === undefined) {
      // The index alone: its triggers keep it row for row in step with products, and not
      // visiting every match's product row makes a common word's count ~20x cheaper.
      return (
        this.db.query<{ n: number }, [string]>("SELECT count(*) AS n FROM products_fts WHERE products_fts MATCH ?").get(toFtsQuery(f.terms))
          ?.n ?? 0
      );
    }
    if (f.terms?.length) {
      from = "products_fts JOIN products p ON p.seq = products_fts.rowid";
      where.push("products_fts MATCH ?");
      params.push(toFtsQuery(f.terms));
    }
    if (f.categoryId !== undefined) {
      where.push("p.category_id = ?");
      params.push(f.categoryId);
    }
    const sql = `SELECT count(*) AS n FROM ${from} ${where.length ? `WHERE ${where.join(" AND ")}` : ""}`;
    return this.db.query<{ n: number }, Bind[]>(sql).get(...params)?.n ?? 0;
  }

  async reserve(req: ReserveStockRequest, opts: CatalogEventOptions = {}): Promise<ReserveOutcome> {
    const out = await this.reserveBatch.submit(req, opts.headers ?? {});
    if (out.changes.length > 0) void this.outbox.committed([CatalogEventsSubjects.stockChanged]);
    return out;
  }

  async release(req: ReleaseStockRequest, opts: CatalogEventOptions = {}): Promise<ReleaseOutcome> {
    const out = this.releaseTx.immediate(req.reservationId, opts.headers ?? {});
    if (out.changes.length > 0) void this.outbox.committed([CatalogEventsSubjects.stockChanged]);
    return out;
  }

  /** Writes outbox entries; must run inside the change's transaction. */
  private addEvents(entries: readonly CatalogOutboxEntry[], headers: Headers): void {
    for (const e of entries) this.outbox.add(e.subject, e.event, headers);
  }

  /** Runs `fn` and writes `entries(result)` in one IMMEDIATE transaction, then waits for the relay to publish them. */
  private async withEvents<T>(fn: () => T, entries: (result: T) => CatalogOutboxEntry[], headers: Headers): Promise<T> {
    let written: CatalogOutboxEntry[] = [];
    const result = this.db
      .transaction(() => {
        const r = fn();
        written = entries(r);
        this.addEvents(written, headers);
        return r;
      })
      .immediate();
    if (written.length > 0) await this.outbox.committed([...new Set(written.map((e) => e.subject))]);
    return result;
  }

  async commit(reservationId: string, eventId: string): Promise<CommitOutcome> {
    return this.commitTx.immediate(reservationId, eventId);
  }

  async seedIfEmpty(categories: readonly NewCategory[]): Promise<number> {
    return this.seedTx.immediate(categories);
  }

  async createCategory(category: CategoryRecord): Promise<CategoryRecord> {
    try {
      this.db.query("INSERT INTO categories (id, name) VALUES (?, ?)").run(category.id, category.name);
    } catch (err) {
      if (isUniqueViolation(err))
        throw new AppError(ErrorCode.CONFLICT, `a category named "${category.name}" exists`, { name: category.name });
      throw err;
    }
    return { id: category.id, name: category.name };
  }

  async createProduct(p: CreateProductRecord, opts: CatalogEventOptions = {}): Promise<ProductRecord> {
    return this.withEvents(
      () => this.createProductInTx(p),
      (product) => [productChangedEntry(product.id, "created")],
      opts.headers ?? {},
    );
  }

  private createProductInTx(p: CreateProductRecord): ProductRecord {
    // INSERT … SELECT from the category: one statement, so the category cannot vanish between
    // a check and the insert; no row inserted means no such category. The FTS trigger indexes
    // the new row in the same statement.
    const inserted = this.db
      .query(
        `INSERT INTO products (id, category_id, name, description, price_cents, currency, stock, created_at)
         SELECT ?, id, ?, ?, ?, ?, ?, ? FROM categories WHERE id = ?`,
      )
      .run(p.id, p.name, p.description, p.priceCents, p.currency, p.stock, p.createdAt, p.categoryId);
    if (inserted.changes === 0) throw new AppError(ErrorCode.NOT_FOUND, `category ${p.categoryId} not found`, { categoryId: p.categoryId });
    return this.productById(p.id) as ProductRecord;
  }

  async updateProduct(id: string, c: ProductChanges, opts: CatalogEventOptions = {}): Promise<ProductRecord | null> {
    return this.withEvents(
      () => this.updateProductInTx(id, c),
      (product) => (product ? [productChangedEntry(product.id, "updated")] : []),
      opts.headers ?? {},
    );
  }

  private updateProductInTx(id: string, c: ProductChanges): ProductRecord | null {
    const sets: string[] = [];
    const params: Bind[] = [];
    if (c.name !== undefined) sets.push("name = ?"), params.push(c.name);
    if (c.description !== undefined) sets.push("description = ?"), params.push(c.description);
    if (c.priceCents !== undefined) sets.push("price_cents = ?"), params.push(c.priceCents);
    if (sets.length > 0) {
      // Only the columns that change are set, so the FTS trigger (AFTER UPDATE OF name,
      // description) re-indexes only on text changes.
      const updated = this.db.query<unknown, Bind[]>(`UPDATE products SET ${sets.join(", ")} WHERE id = ?`).run(...params, id);
      if (updated.changes === 0) return null;
    }
    return this.productById(id);
  }

  async setStock(id: string, stock: number, opts: CatalogEventOptions = {}): Promise<ProductRecord | null> {
    return this.withEvents(
      () => {
        const updated = this.db.query("UPDATE products SET stock = ? WHERE id = ?").run(stock, id);
        return updated.changes === 0 ? null : this.productById(id);
      },
      (product) => {
        if (!product) return [];
        const at = new Date().toISOString();
        return [
          ...stockChangedEntries([{ productId: product.id, stock: product.stock }], at),
          productChangedEntry(product.id, "stock", at),
        ];
      },
      opts.headers ?? {},
    );
  }

  async close(): Promise<void> {
    this.db.close();
  }

  private productById(id: string): ProductRecord | null {
    return this.db.query<ProductRecord, [string]>(`SELECT ${PRODUCT_COLUMNS} FROM ${PRODUCT_FROM} WHERE p.id = ?`).get(id);
  }

  private status(reservationId: string): string | undefined {
    return this.db.query<{ status: string }, [string]>("SELECT status FROM reservations WHERE id = ?").get(reservationId)?.status;
  }

  private reservedItems(reservationId: string): ReservedItem[] {
    return this.db
      .query<ReservedItem, [string]>(
        `SELECT product_id AS productId, quantity, unit_price_cents AS unitPriceCents, currency
         FROM reservation_items WHERE reservation_id = ? ORDER BY position`,
      )
      .all(reservationId);
  }

  private reserveInTx(req: ReserveStockRequest): ReserveOutcome {
    const now = new Date().toISOString();
    // The reservation row first: a new id inserts (no separate status lookup on createOrder's
    // hot path); an existing one is left as is and its status decides. A failure below rolls
    // the row back with the transaction.
    const inserted = this.db
      .query("INSERT INTO reservations (id, status, created_at, updated_at) VALUES (?, 'held', ?, ?) ON CONFLICT (id) DO NOTHING")
      .run(req.reservationId, now, now);
    if (inserted.changes === 0) {
      const status = this.status(req.reservationId);
      if (status === "released") {
        // Re-holding would hand stock to an order its caller already gave up on.
        throw new AppError(ErrorCode.CONFLICT, `reservation ${req.reservationId} was released`, { reservationId: req.reservationId });
      }
      return {
        reservation: { reservationId: req.reservationId, items: this.reservedItems(req.reservationId) },
        created: false,
        changes: [],
      };
    }
    const decrement = this.db.query<{ stock: number; unitPriceCents: number; currency: string }, [number, string, number]>(
      "UPDATE products SET stock = stock - ?1 WHERE id = ?2 AND stock >= ?3 RETURNING stock, price_cents AS unitPriceCents, currency",
    );
    const items: ReservedItem[] = [];
    const changes: StockLevel[] = [];
    for (const item of req.items) {
      const row = decrement.get(item.quantity, item.productId, item.quantity);
      if (!row) {
        // Throwing rolls back the reservation row and the decrements already made for earlier items.
        const current = this.db.query<{ stock: number }, [string]>("SELECT stock FROM products WHERE id = ?").get(item.productId);
        if (!current) throw new AppError(ErrorCode.NOT_FOUND, `product ${item.productId} not found`, { productId: item.productId });
        throw new AppError(
          ErrorCode.OUT_OF_STOCK,
          `only ${current.stock} of product ${item.productId} available, ${item.quantity} requested`,
          {
            productId: item.productId,
            requested: item.quantity,
            available: current.stock,
          },
        );
      }
      items.push({ productId: item.productId, quantity: item.quantity, unitPriceCents: row.unitPriceCents, currency: row.currency });
      changes.push({ productId: item.productId, stock: row.stock });
    }
    // At the prices just captured; throwing rolls back the decrements and the reservation row.
    checkReservationTotal(items, req.maxTotalCents);
    const insertItem = this.db.query(
      "INSERT INTO reservation_items (reservation_id, position, product_id, quantity, unit_price_cents, currency) VALUES (?, ?, ?, ?, ?, ?)",
    );
    for (const [i, it] of items.entries()) insertItem.run(req.reservationId, i, it.productId, it.quantity, it.unitPriceCents, it.currency);
    return { reservation: { reservationId: req.reservationId, items }, created: true, changes };
  }

  private releaseInTx(reservationId: string): ReleaseOutcome {
    const now = new Date().toISOString();
    const held = this.db
      .query("UPDATE reservations SET status = 'released', updated_at = ? WHERE id = ? AND status = 'held'")
      .run(now, reservationId);
    if (held.changes === 0) {
      // An unknown id is recorded as released (no items): a reserve with this id that arrives
      // later (a request delayed on the bus after its order gave up) is refused with CONFLICT
      // instead of holding stock that no order and no intent will ever release.
      this.db
        .query("INSERT INTO reservations (id, status, created_at, updated_at) VALUES (?, 'released', ?, ?) ON CONFLICT (id) DO NOTHING")
        .run(reservationId, now, now);
      return { released: false, changes: [] };
    }
    const restock = this.db.query<{ stock: number }, [number, string]>(
      "UPDATE products SET stock = stock + ? WHERE id = ? RETURNING stock",
    );
    const changes: StockLevel[] = [];
    for (const item of this.reservedItems(reservationId)) {
      const row = restock.get(item.quantity, item.productId);
      // Products cannot be deleted while reservation items reference them (foreign key).
      if (row) changes.push({ productId: item.productId, stock: row.stock });
    }
    return { released: true, changes };
  }

  private commitInTx(reservationId: string, eventId: string): CommitOutcome {
    const fresh = this.db
      .query("INSERT OR IGNORE INTO processed_events (event_id, subject, processed_at) VALUES (?, ?, ?)")
      .run(eventId, OrderEvents.statusChanged, new Date().toISOString());
    if (fresh.changes === 0) return "duplicate";
    const updated = this.db
      .query("UPDATE reservations SET status = 'committed', updated_at = ? WHERE id = ? AND status = 'held'")
      .run(new Date().toISOString(), reservationId);
    if (updated.changes > 0) return "committed";
    const status = this.status(reservationId);
    if (status === "committed") return "already-committed";
    if (status === "released") return "released";
    return "unknown";
  }

  private seedInTx(categories: readonly NewCategory[]): number {
    // Checked inside the write transaction so that two instances starting together seed once.
    if (this.db.query<{ n: number }, []>("SELECT count(*) AS n FROM products").get()?.n) return 0;
    const insertCategory = this.db.query("INSERT INTO categories (id, name) VALUES (?, ?)");
    const insertProduct = this.db.query(
      "INSERT INTO products (id, category_id, name, description, price_cents, currency, stock, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    );
    let n = 0;
    for (const c of categories) {
      insertCategory.run(c.id, c.name);
      for (const p of c.products) {
        insertProduct.run(p.id, c.id, p.name, p.description, p.priceCents, p.currency, p.stock, p.createdAt);
        n++;
      }
    }
    return n;
  }
}
