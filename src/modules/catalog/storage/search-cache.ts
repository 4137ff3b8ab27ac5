import type { BoundedCount, ProductFilter, ProductPage, ProductPageQuery, ProductRecord } from "./types.ts";

/** One search hit of a cached ranking: its bm25 key (lower is better) and product id. */
interface RankedHit {
  score: number;
  id: string;
}

/** What is cached per search (terms + category): each part filled on first use. */
interface CacheEntry {
  /** The first {@link RANKING_DEPTH} hits in (score, id) order; `complete` when that is all of them. */
  ranking?: { hits: RankedHit[]; complete: boolean };
  /** Exact number of matches. */
  count?: number;
  /** A bounded count (`countProductsBounded`) and its bound. */
  bounded?: BoundedCount & { bound: number };
}

/**
 * Hits cached per search: enough for any page of up to 100 (`MAX_PAGE_SIZE`) plus the one row
 * that tells whether another page follows, and a few pages more; deeper pages are read from
 * the database.
 */
export const RANKING_DEPTH = 200;

/**
 * Default number of searches cached (least recently used evicted): each holds at most
 * {@link RANKING_DEPTH} (score, id) pairs, ≤ ~40 KB, so ≤ ~10 MB in all.
 */
export const DEFAULT_SEARCH_CACHE_ENTRIES = 256;

/** What the cache needs from a store. */
export interface SearchCacheSource {
  /**
   * The catalog's search generation: a counter the database bumps (by trigger, in the same
   * transaction) whenever a product is inserted or deleted or its name or description changes,
   * i.e. whenever any search's matches, scores or bm25 statistics may change. Read on every
   * search, so a change made by any process sharing the database is seen at once.
   */
  searchGeneration(): Promise<number>;
  /** The store's uncached search page (the source of truth for order and ties). */
  listProductsUncached(q: ProductPageQuery): Promise<ProductPage>;
  /** The store's uncached count; with `bound`, at most `bound + 1` matches are counted. */
  countProductsUncached(f: ProductFilter, bound?: number): Promise<number>;
  /** Current product rows of these ids, any order. */
  productsByIds(ids: readonly string[]): Promise<ProductRecord[]>;
}

/**
 * Caches the ranking (the first {@link RANKING_DEPTH} hits as (score, id)) and the exact count
 * of text searches, keyed by terms and category, for as long as the database's search
 * generation (see {@link SearchCacheSource.searchGeneration}) does not change. Ranking the
 * matches of a common word costs milliseconds (bm25 of every match, then the (score, id)
 * order); a cached page costs the generation read and one lookup of its products by id.
 *
 * Results are exactly the uncached ones: only the ranking is cached, never product rows (stock
 * and price change without touching the generation and are read fresh for every page), and
 * an entry is used only under the generation that was read *before* it was computed, so it
 * reflects that state or a later one. Pages past the cached depth go to the database.
 */
export class SearchCache {
  private generation = -1;
  private readonly entries = new Map<string, CacheEntry>();

  /**
   * @param source the store.
   * @param maxEntries searches kept (LRU); 0 disables the cache (every call goes to the store).
   */
  constructor(
    private readonly source: SearchCacheSource,
    readonly maxEntries: number = DEFAULT_SEARCH_CACHE_ENTRIES,
  ) {}

  /** A search page (`q.terms` non-empty), from the cached ranking when it covers the page. */
  async listProducts(q: ProductPageQuery): Promise<ProductPage> {
    if (this.maxEntries === 0) return this.source.listProductsUncached(q);
    if (q.after && q.after.order !== "rank") throw new RangeError("a search page continues only from a rank position");
    const gen = await this.source.searchGeneration();
    const key = cacheKey(q);
    const ranking = this.entry(gen, key)?.ranking;
    if (ranking) {
      const page = await this.pageFrom(ranking, q);
      if (page) return page;
      return this.source.listProductsUncached(q);
    }
    if (q.after || q.first >= RANKING_DEPTH) return this.source.listProductsUncached(q);
    // First page of an uncached search: rank once, deep enough to cache, and serve the page
    // from those very rows (same statement, same snapshot).
    const { categoryId, terms } = q;
    const deep = await this.source.listProductsUncached({
      ...(terms ? { terms } : {}),
      ...(categoryId !== undefined ? { categoryId } : {}),
      first: RANKING_DEPTH,
    });
    const hits = deep.items.map((it) => ({ score: it.position.key as number, id: it.product.id }));
    this.update(gen, key, { ranking: { hits, complete: !deep.hasNextPage } });
    return { items: deep.items.slice(0, q.first), hasNextPage: deep.items.length > q.first || deep.hasNextPage };
  }

  /** Exact count of a search's matches (`f.terms` non-empty), cached per generation. */
  async countProducts(f: ProductFilter): Promise<number> {
    if (this.maxEntries === 0) return this.source.countProductsUncached(f);
    const gen = await this.source.searchGeneration();
    const key = cacheKey(f);
    const cached = this.entry(gen, key)?.count;
    if (cached !== undefined) return cached;
    const count = await this.source.countProductsUncached(f);
    this.update(gen, key, { count });
    return count;
  }

  /**
   * Count of a search's matches (`f.terms` non-empty), exact up to `bound`, else
   * `{ count: bound, exact: false }`; cached per generation (an exact count cached by
   * {@link countProducts} answers it too).
   */
  async countProductsBounded(f: ProductFilter, bound: number): Promise<BoundedCount> {
    const fromDb = async (): Promise<BoundedCount> => {
      const n = await this.source.countProductsUncached(f, bound);
      return n > bound ? { count: bound, exact: false } : { count: n, exact: true };
    };
    if (this.maxEntries === 0) return fromDb();
    const gen = await this.source.searchGeneration();
    const key = cacheKey(f);
    const e = this.entry(gen, key);
    if (e?.count !== undefined) return e.count > bound ? { count: bound, exact: false } : { count: e.count, exact: true };
    if (e?.bounded?.bound === bound) return { count: e.bounded.count, exact: e.bounded.exact };
    const result = await fromDb();
    this.update(gen, key, { bounded: { ...result, bound } });
    return result;
  }

  /** The page after `q.after` from a cached ranking, or undefined when the ranking is too short for it. */
  private async pageFrom(ranking: NonNullable<CacheEntry["ranking"]>, q: ProductPageQuery): Promise<ProductPage | undefined> {
    const { hits, complete } = ranking;
    const after = q.after?.order === "rank" ? { key: q.after.key, id: q.after.id } : undefined;
    // Keyset semantics of the SQL: rows strictly after (score, id). Ids are KSUIDs (ASCII), so
    // JavaScript's code-unit order is SQLite's BINARY and PostgreSQL's "C" order.
    const start = after ? hits.findIndex((h) => h.score > after.key || (h.score === after.key && h.id > after.id)) : 0;
    if (start === -1 && !complete) return undefined;
    const from = start === -1 ? hits.length : start;
    const slice = hits.slice(from, from + q.first + 1);
    if (slice.length <= q.first && !complete) return undefined;
    const page = slice.slice(0, q.first);
    const rows = new Map((await this.source.productsByIds(page.map((h) => h.id))).map((p) => [p.id, p]));
    const items: ProductPage["items"] = [];
    for (const h of page) {
      const product = rows.get(h.id);
      // Gone since it was ranked: only a concurrent delete (which bumps the generation) does that.
      if (!product) return undefined;
      items.push({ product, position: { order: "rank", key: h.score, id: h.id } });
    }
    return { items, hasNextPage: slice.length > q.first };
  }

  /** The entry of `key` if the cache is at generation `gen` (moving the cache forward to a newer one). */
  private entry(gen: number, key: string): CacheEntry | undefined {
    if (gen > this.generation) {
      this.entries.clear();
      this.generation = gen;
      return undefined;
    }
    if (gen < this.generation) return undefined;
    const e = this.entries.get(key);
    if (e) {
      // Most recently used last: Map iteration order is insertion order.
      this.entries.delete(key);
      this.entries.set(key, e);
    }
    return e;
  }

  /** Merges `part` into the entry of `key`, unless the cache has moved past `gen` meanwhile. */
  private update(gen: number, key: string, part: CacheEntry): void {
    if (gen !== this.generation) return;
    this.entries.set(key, { ...this.entries.get(key), ...part });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}

const cacheKey = (f: ProductFilter): string => JSON.stringify([f.terms ?? [], f.categoryId ?? null]);
