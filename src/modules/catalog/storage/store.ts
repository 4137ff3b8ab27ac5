import { sql, type Transaction } from "kysely";
import {
  AppError,
  type DatabaseConfig,
  ErrorCode,
  GroupCommitter,
  type Headers,
  Inbox,
  isUniqueViolation,
  type Logger,
  type ModuleDb,
  Outbox,
  openMigratedDatabase,
  Prepared,
  type SqlDialect,
} from "../../../kernel/index.ts";
import { CatalogEvents, type ReleaseStockRequest, type ReserveStockRequest } from "../contract/index.ts";
import { type CatalogOutboxEntry, productChangedEntry, stockChangedEntries } from "./events.ts";
import { SEARCH_RANK_CANDIDATES } from "../search.ts";
import { CATALOG_MIGRATIONS } from "./migrations.ts";
import { ORDER_STATUS_CONSUMER, Reservations } from "./reservations.ts";
import { DEFAULT_SEARCH_CACHE_ENTRIES, SearchCache, type SearchCacheSource } from "./search-cache.ts";
import { postgresSearchCount, postgresSearchPage } from "./search-postgres.ts";
import { sqliteSearchCount, sqliteSearchPage } from "./search-sqlite.ts";
import { type CatalogDb, type CatalogTables, PRODUCT_COLUMNS, selectProducts } from "./tables.ts";
import type {
  BoundedCount,
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
  ReleaseOptions,
  ReleaseOutcome,
  ReserveOutcome,
} from "./types.ts";

/** Options of {@link openCatalogDatabase}. */
export interface CatalogStoreOptions {
  /** Receives PostgreSQL notices. */
  logger?: Logger;
  /** Searches whose ranking and count are cached (see {@link SearchCache}); 0 = no cache. Default {@link DEFAULT_SEARCH_CACHE_ENTRIES}. */
  searchCacheEntries?: number;
  /**
   * A search matching more products than this ranks this many candidates instead of every
   * match (search-sqlite.ts). Default {@link SEARCH_RANK_CANDIDATES}; Infinity ranks every match.
   */
  searchRankCandidates?: number;
}

/**
 * Opens the catalog database (SQLite file or PostgreSQL pool), migrates it and returns a store on it.
 * @throws MigrationError when the database was migrated by newer code; the driver's error (the
 *   database is closed on failure).
 */
export async function openCatalogDatabase(config: DatabaseConfig, opts: CatalogStoreOptions = {}): Promise<SqlCatalogStore> {
  const mdb = await openMigratedDatabase<CatalogTables>(config, CATALOG_MIGRATIONS, {
    ...(opts.logger ? { logger: opts.logger } : {}),
    // Page cache of the connection, KiB: SQLite's default 2 MB makes a common word's search
    // (thousands of matches, each joined to its product row) read the same pages from the OS
    // again and again; 32 MB holds the products and the FTS index of a 100,000-product
    // catalog's hot part. Memory is taken only as pages are read.
    setup: async (m) => {
      if (m.dialect === "sqlite") await m.exec(m.db, `PRAGMA cache_size = -${32 * 1024}`);
    },
  });
  return new SqlCatalogStore(mdb, opts.searchCacheEntries ?? DEFAULT_SEARCH_CACHE_ENTRIES, opts.searchRankCandidates);
}

/** Rows per INSERT when seeding: 8 parameters each stays far below both databases' parameter limits. */
const SEED_CHUNK = 500;

/** PostgreSQL's SQLSTATE of a write chosen as a deadlock victim (retried: nothing of it was written). */
const DEADLOCK = "40P01";
/** Attempts of a reservation that keeps losing deadlocks before its error is returned. */
const RESERVE_ATTEMPTS = 3;

/**
 * {@link CatalogStore} on either database. Every write commits its events with it (outbox).
 * Reservations (createOrder's hot path) are group-committed: the reservations that arrive
 * together share one transaction, each in its own savepoint, so a refused one (OUT_OF_STOCK, ...)
 * rolls back alone; one batch at a time (see {@link GroupCommitter}). Search is the one place the dialects really differ (search-sqlite.ts,
 * search-postgres.ts); rankings and counts are cached per search generation ({@link SearchCache}).
 */
export class SqlCatalogStore implements CatalogStore, SearchCacheSource {
  readonly outbox: Outbox<CatalogTables>;
  /** The database, for tests and tools that look at the rows. */
  readonly db: CatalogDb;
  readonly dialect: SqlDialect;
  readonly #mdb: ModuleDb<CatalogTables>;
  readonly #inbox: Inbox<CatalogTables>;
  readonly #group: GroupCommitter<CatalogTables>;
  readonly #reservations: Reservations;
  readonly #searchCache: SearchCache;
  // Statements of every search page, compiled once (see Prepared).
  readonly #generation: Prepared<{ generation: number }>;
  readonly #byIds: Prepared<ProductRecord>;

  readonly #rankCandidates: number;

  /**
   * @param searchCacheEntries searches whose ranking and count are cached; 0 = no cache.
   * @param rankCandidates see {@link CatalogStoreOptions.searchRankCandidates}.
   */
  constructor(
    mdb: ModuleDb<CatalogTables>,
    searchCacheEntries: number = DEFAULT_SEARCH_CACHE_ENTRIES,
    rankCandidates: number = SEARCH_RANK_CANDIDATES,
  ) {
    this.#rankCandidates = rankCandidates;
    this.#mdb = mdb;
    this.db = mdb.db;
    this.dialect = mdb.dialect;
    this.outbox = new Outbox(mdb);
    this.#inbox = new Inbox(mdb);
    this.#group = new GroupCommitter(mdb.db);
    this.#reservations = new Reservations(mdb.db, mdb.dialect);
    this.#generation = new Prepared(mdb.db, () => sql<{ generation: number }>`SELECT generation FROM search_state WHERE id = ${1}`, 0);
    // One statement for any batch size: the ids travel as one parameter (a text[] on
    // PostgreSQL, JSON text on SQLite).
    this.#byIds = new Prepared(
      mdb.db,
      (arg) =>
        mdb.dialect === "postgres"
          ? sql<ProductRecord>`SELECT ${PRODUCT_COLUMNS} FROM products p JOIN categories c ON c.id = p.category_id WHERE p.id = ANY(${arg(0)}::text[])`
          : sql<ProductRecord>`SELECT ${PRODUCT_COLUMNS} FROM products p JOIN categories c ON c.id = p.category_id
            WHERE p.id IN (SELECT value FROM json_each(${arg(0)}))`,
      1,
    );
    this.#searchCache = new SearchCache(this, searchCacheEntries);
  }

  async productsByIds(ids: readonly string[]): Promise<ProductRecord[]> {
    if (ids.length === 0) return [];
    return (await this.#byIds.execute(this.db, [this.dialect === "postgres" ? [...ids] : JSON.stringify(ids)])).rows;
  }

  async categoriesByIds(ids: readonly string[]): Promise<CategoryRecord[]> {
    if (ids.length === 0) return [];
    return this.db
      .selectFrom("categories")
      .select(["id", "name"])
      .where("id", "in", [...ids])
      .execute();
  }

  async listCategories(): Promise<CategoryRecord[]> {
    return this.db.selectFrom("categories").select(["id", "name"]).orderBy("name").orderBy("id").execute();
  }

  async listProducts(q: ProductPageQuery): Promise<ProductPage> {
    return q.terms?.length ? this.#searchCache.listProducts(q) : this.listProductsUncached(q);
  }

  async countProducts(f: ProductFilter): Promise<number> {
    return f.terms?.length ? this.#searchCache.countProducts(f) : this.countProductsUncached(f);
  }

  async countProductsBounded(f: ProductFilter, bound: number): Promise<BoundedCount> {
    if (!f.terms?.length) return { count: await this.countProductsUncached(f), exact: true };
    return this.#searchCache.countProductsBounded(f, bound);
  }

  async searchGeneration(): Promise<number> {
    const [row] = (await this.#generation.execute(this.db, [])).rows;
    return Number(row?.generation ?? 0);
  }

  /** A page straight from the database (the search cache's source of truth). */
  async listProductsUncached(q: ProductPageQuery): Promise<ProductPage> {
    // One row more than asked tells whether another page follows.
    const limit = q.first + 1;
    if (q.terms?.length) {
      if (q.after && q.after.order !== "rank") throw new RangeError("a search page continues only from a rank position");
      const n = this.#rankCandidates;
      const rows =
        this.dialect === "postgres" ? await postgresSearchPage(this.db, q, limit, n) : await sqliteSearchPage(this.db, q, limit, n);
      const items = rows.slice(0, q.first).map(({ score, ...product }) => ({
        product,
        position: { order: "rank" as const, key: score, id: product.id },
      }));
      return { items, hasNextPage: rows.length > q.first };
    }
    if (q.after && q.after.order !== "name") throw new RangeError("a listing page continues only from a name position");
    const { after, categoryId } = q;
    const rows = await selectProducts(this.db)
      .$if(categoryId !== undefined, (qb) => qb.where("p.category_id", "=", categoryId as string))
      .$if(after !== undefined, (qb) =>
        qb.where((eb) => eb(eb.refTuple("p.name", "p.id"), ">", eb.tuple(String(after?.key), String(after?.id)))),
      )
      .orderBy("p.name")
      .orderBy("p.id")
      .limit(limit)
      .execute();
    const items = rows.slice(0, q.first).map((product) => ({
      product,
      position: { order: "name" as const, key: product.name, id: product.id },
    }));
    return { items, hasNextPage: rows.length > q.first };
  }

  /**
   * A count straight from the database; with `bound`, a search counts at most `bound + 1`
   * matches (a result above `bound` means "more than `bound`").
   */
  async countProductsUncached(f: ProductFilter, bound?: number): Promise<number> {
    if (f.terms?.length) return this.dialect === "postgres" ? postgresSearchCount(this.db, f, bound) : sqliteSearchCount(this.db, f, bound);
    const { categoryId } = f;
    const row = await this.db
      .selectFrom("products")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .$if(categoryId !== undefined, (qb) => qb.where("category_id", "=", categoryId as string))
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async reserve(req: ReserveStockRequest, opts: CatalogEventOptions = {}): Promise<ReserveOutcome> {
    const headers = opts.headers ?? {};
    for (let attempt = 1; ; attempt++) {
      try {
        const out = await this.#group.submit(async (trx) => {
          const o = await this.#reservations.reserve(trx, req);
          // In the same transaction (outbox): a stock change and its announcement commit together.
          await this.#addEvents(trx, stockChangedEntries(o.changes), headers);
          return o;
        });
        if (out.changes.length > 0) void this.outbox.committed([CatalogEvents.stockChanged]);
        return out;
      } catch (err) {
        // PostgreSQL: a batch holds its rows until it commits, so batches of two instances can
        // wait on each other; the write chosen as victim had its savepoint rolled back, so it is
        // safe to repeat.
        if (attempt >= RESERVE_ATTEMPTS || (err as { code?: unknown } | null)?.code !== DEADLOCK) throw err;
      }
    }
  }

  async release(req: ReleaseStockRequest, opts: ReleaseOptions = {}): Promise<ReleaseOutcome> {
    const { eventId } = opts;
    const out = await this.db.transaction().execute(async (trx) => {
      if (eventId !== undefined && !(await this.#inbox.markProcessed(trx, ORDER_STATUS_CONSUMER, eventId))) {
        return { released: false, changes: [] };
      }
      const o = await this.#reservations.release(trx, req);
      await this.#addEvents(trx, stockChangedEntries(o.changes), opts.headers ?? {});
      return o;
    });
    if (out.changes.length > 0) void this.outbox.committed([CatalogEvents.stockChanged]);
    return out;
  }

  async commit(reservationId: string, eventId: string): Promise<CommitOutcome> {
    return this.db.transaction().execute((trx) => this.#reservations.commit(trx, this.#inbox, reservationId, eventId));
  }

  pruneInbox(olderThanMs?: number): Promise<number> {
    return this.#inbox.prune(olderThanMs);
  }

  async seedIfEmpty(categories: readonly NewCategory[]): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      // Checked inside the write transaction so that two instances starting together seed once:
      // SQLite's BEGIN IMMEDIATE serialises them; on PostgreSQL a self-conflicting table lock,
      // taken before the emptiness check, makes the second wait and then find the products.
      if (this.dialect === "postgres") await sql`LOCK TABLE products IN SHARE ROW EXCLUSIVE MODE`.execute(trx);
      if (await trx.selectFrom("products").select("id").limit(1).executeTakeFirst()) return 0;
      if (categories.length > 0)
        await trx
          .insertInto("categories")
          .values(categories.map((c) => ({ id: c.id, name: c.name })))
          .execute();
      const rows = categories.flatMap((c) =>
        c.products.map((p) => ({
          id: p.id,
          category_id: c.id,
          name: p.name,
          description: p.description,
          price_cents: p.priceCents,
          currency: p.currency,
          stock: p.stock,
          created_at: p.createdAt,
        })),
      );
      // PostgreSQL: search_terms is counted once over the seeded rows instead of by the insert
      // trigger per chunk. Per chunk, every chunk re-updates the same hot prefixes ('a', 'b', ...)
      // inside this one transaction, whose dead row versions cannot be cleaned until it ends:
      // a 1M-product seed took over 15 min that way, one aggregate takes about as long as
      // migration 10's (~100 s). The table is empty with the products (its invariant), the
      // trigger is off only inside this transaction (ALTER TABLE locks products exclusively
      // until commit; the seed already holds it against writers).
      const pg = this.dialect === "postgres" && rows.length > SEED_CHUNK;
      if (pg) await sql`ALTER TABLE products DISABLE TRIGGER products_search_terms_insert`.execute(trx);
      for (let i = 0; i < rows.length; i += SEED_CHUNK)
        await trx
          .insertInto("products")
          .values(rows.slice(i, i + SEED_CHUNK))
          .execute();
      if (pg) {
        await sql`INSERT INTO search_terms (prefix, docs)
          SELECT p.prefix, count(*) FROM products r, catalog_search_terms(r.search) AS p(prefix) GROUP BY p.prefix`.execute(trx);
        await sql`ALTER TABLE products ENABLE TRIGGER products_search_terms_insert`.execute(trx);
      }
      return rows.length;
    });
  }

  async createCategory(category: CategoryRecord): Promise<CategoryRecord> {
    try {
      await this.db.insertInto("categories").values({ id: category.id, name: category.name }).execute();
    } catch (err) {
      if (isUniqueViolation(err, { table: "categories", columns: "name" }))
        throw new AppError(ErrorCode.CONFLICT, `a category named "${category.name}" exists`, { name: category.name });
      throw err;
    }
    return { id: category.id, name: category.name };
  }

  async createProduct(p: CreateProductRecord, opts: CatalogEventOptions = {}): Promise<ProductRecord> {
    return this.#writeWithEvents(opts.headers, async (trx) => {
      // Categories are never deleted, so one that exists here still exists at the insert (and
      // the foreign key would refuse the insert otherwise). The search index (FTS5 trigger,
      // generated tsvector) follows in the same statement: searchable once this commits.
      const category = await trx.selectFrom("categories").select("id").where("id", "=", p.categoryId).executeTakeFirst();
      if (!category) throw new AppError(ErrorCode.NOT_FOUND, `category ${p.categoryId} not found`, { categoryId: p.categoryId });
      await trx
        .insertInto("products")
        .values({
          id: p.id,
          category_id: p.categoryId,
          name: p.name,
          description: p.description,
          price_cents: p.priceCents,
          currency: p.currency,
          stock: p.stock,
          created_at: p.createdAt,
        })
        .execute();
      const product = (await productById(trx, p.id)) as ProductRecord;
      return { result: product, events: [productChangedEntry(p.id, "created")] };
    });
  }

  async updateProduct(id: string, c: ProductChanges, opts: CatalogEventOptions = {}): Promise<ProductRecord | null> {
    return this.#writeWithEvents(opts.headers, async (trx) => {
      const set = {
        ...(c.name !== undefined ? { name: c.name } : {}),
        ...(c.description !== undefined ? { description: c.description } : {}),
        ...(c.priceCents !== undefined ? { price_cents: c.priceCents } : {}),
      };
      // Only the columns that change are set, so SQLite's FTS trigger (AFTER UPDATE OF name,
      // description) re-indexes only on text changes.
      if (Object.keys(set).length > 0) await trx.updateTable("products").set(set).where("id", "=", id).execute();
      const product = await productById(trx, id);
      return { result: product, events: product ? [productChangedEntry(id, "updated")] : [] };
    });
  }

  async setStock(id: string, stock: number, opts: CatalogEventOptions = {}): Promise<ProductRecord | null> {
    return this.#writeWithEvents(opts.headers, async (trx) => {
      await trx.updateTable("products").set({ stock }).where("id", "=", id).execute();
      const product = await productById(trx, id);
      if (!product) return { result: null, events: [] };
      const at = new Date().toISOString();
      const events = [...stockChangedEntries([{ productId: id, stock: product.stock }], at), productChangedEntry(id, "stock", at)];
      return { result: product, events };
    });
  }

  close(): Promise<void> {
    return this.#mdb.close();
  }

  /** Writes outbox entries in transaction `trx`. */
  async #addEvents(trx: Transaction<CatalogTables>, entries: readonly CatalogOutboxEntry[], headers: Headers): Promise<void> {
    for (const e of entries) await this.outbox.add(trx, e.subject, e.event, headers);
  }

  /**
   * Runs `fn` and writes the events it returns in one transaction, then waits for the relay to
   * publish them (so a cache listening to them is invalidated before an admin mutation answers).
   */
  async #writeWithEvents<T>(
    headers: Headers | undefined,
    fn: (trx: Transaction<CatalogTables>) => Promise<{ result: T; events: CatalogOutboxEntry[] }>,
  ): Promise<T> {
    const { result, events } = await this.db.transaction().execute(async (trx) => {
      const r = await fn(trx);
      await this.#addEvents(trx, r.events, headers ?? {});
      return r;
    });
    if (events.length > 0) await this.outbox.committed([...new Set(events.map((e) => e.subject))]);
    return result;
  }
}

async function productById(db: CatalogDb, id: string): Promise<ProductRecord | null> {
  return (await selectProducts(db).where("p.id", "=", id).executeTakeFirst()) ?? null;
}
