import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { newId } from "../../src/kernel/ids.ts";
import { RANKING_DEPTH } from "../../src/modules/catalog/storage/search-cache.ts";
import { openCatalogDatabase, type SqlCatalogStore } from "../../src/modules/catalog/storage/store.ts";
import type { NewCategory, ProductPage, ProductPosition, ProductFilter } from "../../src/modules/catalog/storage/types.ts";
import { DATABASES, freshPostgresDatabase, usePostgres, type DatabaseKind } from "../helpers/databases.ts";

/**
 * The search cache (SearchCache, used by both stores) answers exactly as the database does:
 * a cached store and an uncached one (`searchCacheEntries: 0`) on the same database give the
 * same pages, positions and counts, also past the cached depth and with large groups of equal
 * scores; and a change made through *another* store instance on the same database (another
 * process, as far as the cache knows) is seen by the next search.
 */

usePostgres();

type Store = SqlCatalogStore;

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const createdAt = "2024-05-01T12:00:00.000Z";
const COLOURS = ["red", "blue", "green"];

/**
 * 3 categories, 620 products: 400 "<colour> widget <n>" (same length, so "widget" ties on
 * score in long runs), 120 with "widget" only in the description, 100 "gizmo"s.
 */
function catalog(): NewCategory[] {
  const cats: NewCategory[] = ["Tools", "Toys", "Garden"].map((name) => ({ id: newId(), name, products: [] }));
  const add = (i: number, name: string, description: string) =>
    cats[i % 3]?.products.push({ id: newId(), name, description, priceCents: 100 + i, currency: "USD", stock: i % 7, createdAt });
  for (let i = 0; i < 400; i++) add(i, `${COLOURS[i % 3]} widget ${i}`, `A sturdy thing number ${i} for everyday use.`);
  for (let i = 0; i < 120; i++) add(i, `Plain box ${i}`, `Holds a widget or two${i % 2 ? " and a spare widget" : ""}.`);
  for (let i = 0; i < 100; i++) add(i, `Gizmo ${i}`, `Small ${COLOURS[i % 3]} device.`);
  return cats;
}

/** Every page of a search, `first` at a time, following the returned positions. */
async function walk(store: Store, filter: ProductFilter, first: number): Promise<ProductPage["items"]> {
  const items: ProductPage["items"] = [];
  let after: ProductPosition | undefined;
  for (let i = 0; i < 2000; i++) {
    const page = await store.listProducts({ ...filter, first, ...(after ? { after } : {}) });
    items.push(...page.items);
    if (!page.hasNextPage) return items;
    after = page.items.at(-1)?.position;
    if (!after) throw new Error("hasNextPage on an empty page");
  }
  throw new Error("pagination did not end");
}

for (const kind of DATABASES) {
  describe(`search cache [${kind}]`, () => {
    let cached: Store;
    let plain: Store;
    let cats: NewCategory[];

    /** Two store instances on one database: the default (cached) and one with no cache. */
    async function open(k: DatabaseKind): Promise<[Store, Store]> {
      if (k === "sqlite") {
        const dir = mkdtempSync(join(tmpdir(), "catalog-search-cache-"));
        dirs.push(dir);
        const path = join(dir, "catalog.sqlite");
        return [
          await openCatalogDatabase({ kind: "sqlite", path }),
          await openCatalogDatabase({ kind: "sqlite", path }, { searchCacheEntries: 0 }),
        ];
      }
      const url = await freshPostgresDatabase();
      return [
        await openCatalogDatabase({ kind: "postgres", url, poolMax: 2 }),
        await openCatalogDatabase({ kind: "postgres", url, poolMax: 2 }, { searchCacheEntries: 0 }),
      ];
    }

    beforeAll(async () => {
      [cached, plain] = await open(kind);
      cats = catalog();
      expect(await plain.seedIfEmpty(cats)).toBe(620);
    });
    afterAll(async () => {
      await cached.close();
      await plain.close();
    });

    test("pages, positions and counts equal the database's, past the cached depth and across ties", async () => {
      const filters: ProductFilter[] = [
        { terms: ["widget"] },
        { terms: ["wid"] },
        { terms: ["blue", "widget"] },
        { terms: ["widget"], categoryId: cats[1]?.id as string },
        { terms: ["gizmo"] },
        { terms: ["nothing"] },
      ];
      for (const filter of filters) {
        // Pages of 1 only where the walk is short: PostgreSQL ranks every match for each page.
        for (const first of (filter.terms?.length ?? 0) > 1 ? [1, 9, 100] : [9, 100]) {
          // Twice on the cached store: the first walk fills the cache, the second reads it.
          const expected = await walk(plain, filter, first);
          expect({ filter, first, items: await walk(cached, filter, first) }).toEqual({ filter, first, items: expected });
          expect({ filter, first, items: await walk(cached, filter, first) }).toEqual({ filter, first, items: expected });
        }
        const count = await plain.countProducts(filter);
        expect(await cached.countProducts(filter)).toBe(count);
        expect(await cached.countProducts(filter)).toBe(count);
      }
      // The walks above did cross the cached depth.
      expect(await plain.countProducts({ terms: ["widget"] })).toBeGreaterThan(RANKING_DEPTH + 100);
      // A page of 0 and the largest page.
      for (const first of [0, 100]) {
        const a = await plain.listProducts({ terms: ["widget"], first });
        expect(await cached.listProducts({ terms: ["widget"], first })).toEqual(a);
      }
    });

    test("a product created, renamed or deleted through another instance is seen by the next search", async () => {
      const terms = ["gizmo"];
      const before = await cached.countProducts({ terms });
      const firstPage = await cached.listProducts({ terms, first: 5 });
      const g0 = await cached.searchGeneration();

      // A name that ranks first (two hits in the name) and must appear at once.
      const id = newId();
      const category = cats[0] as NewCategory;
      await plain.createProduct({
        id,
        categoryId: category.id,
        name: "Gizmo gizmo",
        description: "Twice.",
        priceCents: 1,
        currency: "USD",
        stock: 1,
        createdAt,
      });
      expect(await cached.searchGeneration()).toBeGreaterThan(g0);
      expect(await cached.countProducts({ terms })).toBe(before + 1);
      const after = await cached.listProducts({ terms, first: 5 });
      expect(after.items[0]?.product.id).toBe(id);
      expect(after).toEqual(await plain.listProducts({ terms, first: 5 }));

      await plain.updateProduct(id, { name: "Doohickey" });
      expect(await cached.countProducts({ terms })).toBe(before);
      // The same products again; their scores moved (one more row in bm25's statistics).
      const renamed = await cached.listProducts({ terms, first: 5 });
      expect(renamed.items.map((i) => i.product.id)).toEqual(firstPage.items.map((i) => i.product.id));
      expect(renamed).toEqual(await plain.listProducts({ terms, first: 5 }));
      expect((await cached.listProducts({ terms: ["doohickey"], first: 5 })).items.map((i) => i.product.id)).toEqual([id]);

      // Deletes are not in the store's API; the triggers cover them all the same.
      const g1 = await cached.searchGeneration();
      await plain.db.deleteFrom("products").where("id", "=", id).execute();
      expect(await cached.searchGeneration()).toBeGreaterThan(g1);
      expect((await cached.listProducts({ terms: ["doohickey"], first: 5 })).items).toEqual([]);
      expect(await cached.countProducts({ terms: ["doohickey"] })).toBe(0);
    });

    if (kind === "postgres")
      test("bm25's totals kept by triggers equal the table's, through inserts, updates, deletes and truncate", async () => {
        if (plain.dialect !== "postgres") throw new Error("not postgres");
        const db = plain.db;
        const check = async () => {
          const {
            rows: [kept],
          } = await sql<{ products: string; tokens: string }>`SELECT products::text, tokens::text FROM search_state WHERE id = 1`.execute(
            db,
          );
          const {
            rows: [real],
          } = await sql<{
            products: string;
            tokens: string;
          }>`SELECT count(*)::text AS products, coalesce(sum(search_tokens), 0)::text AS tokens FROM products`.execute(db);
          expect(kept).toEqual(real as { products: string; tokens: string });
        };
        await check();
        const category = cats[2] as NewCategory;
        const ids = [newId(), newId()];
        for (const id of ids)
          await plain.createProduct({
            id,
            categoryId: category.id,
            name: `Totals ${id}`,
            description: "one two three",
            priceCents: 1,
            currency: "USD",
            stock: 0,
            createdAt,
          });
        await check();
        await plain.updateProduct(ids[0] as string, { description: "now a much longer description of this product" });
        await sql`UPDATE products SET name = name || ' x' WHERE id = ANY(${ids}::text[])`.execute(db);
        await check();
        await sql`DELETE FROM products WHERE id = ANY(${ids}::text[])`.execute(db);
        await check();
        const g = await plain.searchGeneration();
        // In a transaction that rolls back: TRUNCATE would need the reservations' table too.
        await db
          .transaction()
          .execute(async (tx) => {
            await sql`TRUNCATE products, reservation_items`.execute(tx);
            const {
              rows: [row],
            } = await sql<{ products: string; g: string }>`SELECT products::text, generation::text AS g FROM search_state`.execute(tx);
            expect(row).toEqual({ products: "0", g: String(g + 1) });
            throw new Error("rollback");
          })
          .catch((err: unknown) => expect(String(err)).toContain("rollback"));
        await check();
      });

    test("stock and price changes leave the generation alone, yet cached pages show them", async () => {
      const terms = ["gizmo"];
      const page = await cached.listProducts({ terms, first: 3 });
      const target = page.items[1]?.product;
      if (!target) throw new Error("no product");
      const g = await cached.searchGeneration();
      await plain.setStock(target.id, 4242);
      await plain.updateProduct(target.id, { priceCents: 4343 });
      // Unchanged text set again is no change either.
      await plain.updateProduct(target.id, { name: target.name, description: target.description });
      expect(await cached.searchGeneration()).toBe(g);
      const again = await cached.listProducts({ terms, first: 3 });
      expect(again.items[1]?.product).toMatchObject({ stock: 4242, priceCents: 4343 });
      expect(again).toEqual(await plain.listProducts({ terms, first: 3 }));
    });
  });
}

describe("search cache: bounded, least recently used evicted", () => {
  test("a cache of 2 searches keeps the 2 most recently used; 0 disables it", async () => {
    for (const [entries, expectedCalls] of [
      // LRU: the second "a" is a hit and makes "b" the oldest, so "c" evicts "b", "b" evicts "a".
      [2, ["a", "b", "c", "b", "a"]],
      [0, ["a", "b", "a", "c", "b", "a"]],
    ] as const) {
      const store = await openCatalogDatabase({ kind: "sqlite", path: ":memory:" }, { searchCacheEntries: entries });
      await store.seedIfEmpty(catalog());
      // Counts the database searches the cache makes, on the real store.
      const calls: string[] = [];
      const uncached = store.listProductsUncached.bind(store);
      store.listProductsUncached = (q) => (calls.push(q.terms?.join(" ") ?? ""), uncached(q));
      const names = { a: "widget", b: "gizmo", c: "box" };
      for (const k of ["a", "b", "a", "c", "b", "a"] as const) {
        const page = await store.listProducts({ terms: [names[k]], first: 3 });
        expect(page).toEqual(await uncached({ terms: [names[k]], first: 3 }));
      }
      expect(calls).toEqual(expectedCalls.map((k) => names[k]));
      await store.close();
    }
  });
});
