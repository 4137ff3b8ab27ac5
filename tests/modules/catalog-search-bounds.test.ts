import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import type { DatabaseConfig } from "../../src/kernel/index.ts";
import { newId } from "../../src/kernel/ids.ts";
import { openDatabase } from "../../src/kernel/storage/database.ts";
import { migrate } from "../../src/kernel/storage/migrate.ts";
import { catalogModule } from "../../src/modules/catalog/module.ts";
import { SEARCH_COUNT_BOUND, searchTerms } from "../../src/modules/catalog/search.ts";
import { DEMO_CATALOG, DEMO_CURRENCY } from "../../src/modules/catalog/seed.ts";
import { CATALOG_MIGRATIONS } from "../../src/modules/catalog/storage/migrations.ts";
import { openCatalogDatabase, SqlCatalogStore } from "../../src/modules/catalog/storage/store.ts";
import type { CatalogTables } from "../../src/modules/catalog/storage/tables.ts";
import type { CatalogStore, NewCategory, ProductPosition } from "../../src/modules/catalog/storage/types.ts";
import { DATABASES, type DatabaseKind, freshPostgresDatabase, usePostgres } from "../helpers/databases.ts";
import { startModules } from "../helpers/modules.ts";

/**
 * Search without its cache at scale (issue 13): the bounded totalCount (exact up to a bound,
 * then a flagged lower bound), short prefixes (SQLite's FTS5 prefix indexes, migration 9), and
 * the migration of an existing database into the new index, on both databases.
 */

usePostgres();

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), "catalog-search-bounds-"));
  dirs.push(d);
  return d;
};

/** A database config of `kind`: a SQLite file in a temp dir or a fresh PostgreSQL database. */
async function freshConfig(kind: DatabaseKind): Promise<DatabaseConfig> {
  return kind === "sqlite"
    ? { kind: "sqlite", path: join(tempDir(), "catalog.sqlite") }
    : { kind: "postgres", url: await freshPostgresDatabase(), poolMax: 3 };
}

const CREATED = "2024-05-01T12:00:00.000Z";

/** The demo catalog with fixed ids, so two stores hold identical rows. */
const DEMO: NewCategory[] = DEMO_CATALOG.map((c) => ({
  id: newId(),
  name: c.name,
  products: c.products.map((p) => ({ id: newId(), ...p, currency: DEMO_CURRENCY, createdAt: CREATED })),
}));

/** One more "widget" than the bound, and 5 "gizmo"s in another category. */
const BROAD: NewCategory[] = [
  {
    id: newId(),
    name: "Widgets",
    products: Array.from({ length: SEARCH_COUNT_BOUND + 1 }, (_, i) => ({
      id: newId(),
      name: `Widget ${i + 1}`,
      description: "A small gadget.",
      priceCents: 100,
      currency: "USD",
      stock: 1,
      createdAt: CREATED,
    })),
  },
  {
    id: newId(),
    name: "Gizmos",
    products: Array.from({ length: 5 }, (_, i) => ({
      id: newId(),
      name: `Gizmo ${i + 1}`,
      description: "A widget's cousin.",
      priceCents: 100,
      currency: "USD",
      stock: 1,
      createdAt: CREATED,
    })),
  },
];
const [WIDGETS, GIZMOS] = BROAD as [NewCategory, NewCategory];

/** Ids of every page of a search, 7 at a time, following the store's positions. */
async function walk(store: CatalogStore, terms: string[]): Promise<string[]> {
  const ids: string[] = [];
  let after: ProductPosition | undefined;
  for (let i = 0; i < 100; i++) {
    const page = await store.listProducts({ terms, first: 7, ...(after ? { after } : {}) });
    ids.push(...page.items.map((it) => it.product.id));
    if (!page.hasNextPage) return ids;
    after = page.items.at(-1)?.position;
  }
  throw new Error("pagination did not end");
}

/**
 * The words of a text as FTS5's unicode61 tokenizer with remove_diacritics 2 sees them (an
 * oracle independent of both engines): diacritics dropped, lower case, split at anything but
 * letters and digits.
 */
const words = (text: string): string[] =>
  text
    .normalize("NFD")
    .replace(/\p{M}/gu, "")
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);

for (const kind of DATABASES)
  describe(`search bounds [${kind}]`, () => {
    describe("bounded count", () => {
      let store: SqlCatalogStore;
      let uncached: SqlCatalogStore;
      beforeAll(async () => {
        const config = await freshConfig(kind);
        store = await openCatalogDatabase(config);
        uncached = await openCatalogDatabase(config, { searchCacheEntries: 0 });
        expect(await store.seedIfEmpty(BROAD)).toBe(SEARCH_COUNT_BOUND + 6);
      });
      afterAll(async () => {
        await store.close();
        await uncached.close();
      });

      test("exact up to the bound, then the bound as a lower bound, flagged; cached or not", async () => {
        for (const s of [uncached, store, store]) {
          expect(await s.countProductsBounded({ terms: ["gizmo"] }, SEARCH_COUNT_BOUND)).toEqual({ count: 5, exact: true });
          // 1,001 widgets in names + 5 in the gizmos' descriptions ("widget's" is "widget" "s").
          expect(await s.countProductsBounded({ terms: ["widget"] }, SEARCH_COUNT_BOUND)).toEqual({
            count: SEARCH_COUNT_BOUND,
            exact: false,
          });
          expect(await s.countProductsBounded({ terms: ["wid"] }, 1006)).toEqual({ count: 1006, exact: true });
          expect(await s.countProductsBounded({ terms: ["wid"] }, 1005)).toEqual({ count: 1005, exact: false });
          expect(await s.countProductsBounded({ terms: ["widget"] }, 0)).toEqual({ count: 0, exact: false });
          expect(await s.countProductsBounded({ terms: ["nothing"] }, 0)).toEqual({ count: 0, exact: true });
        }
        // The exact count is still there, and once cached it answers bounded counts too.
        expect(await store.countProducts({ terms: ["widget"] })).toBe(SEARCH_COUNT_BOUND + 6);
        expect(await store.countProductsBounded({ terms: ["widget"] }, 2000)).toEqual({ count: SEARCH_COUNT_BOUND + 6, exact: true });
        expect(await store.countProductsBounded({ terms: ["widget"] }, 10)).toEqual({ count: 10, exact: false });
      });

      test("with a category filter; a listing without terms is always exact", async () => {
        for (const s of [uncached, store]) {
          expect(await s.countProductsBounded({ terms: ["widget"], categoryId: GIZMOS.id }, 3)).toEqual({ count: 3, exact: false });
          expect(await s.countProductsBounded({ terms: ["widget"], categoryId: GIZMOS.id }, 5)).toEqual({ count: 5, exact: true });
          expect(await s.countProductsBounded({ terms: ["gizmo"], categoryId: WIDGETS.id }, 5)).toEqual({ count: 0, exact: true });
          expect(await s.countProductsBounded({}, 10)).toEqual({ count: SEARCH_COUNT_BOUND + 6, exact: true });
          expect(await s.countProductsBounded({ categoryId: GIZMOS.id }, 1)).toEqual({ count: 5, exact: true });
        }
      });

      test("GraphQL: totalCount and totalCountIsExact", async () => {
        const h = await startModules([catalogModule], { seed: false }, { database: kind });
        try {
          const seeder = await openCatalogDatabase(h.database("catalog"));
          await seeder.seedIfEmpty(BROAD);
          await seeder.close();
          const Q = `query($q: String) { products(search: $q, first: 2) { totalCount totalCountIsExact edges { node { name } } } }`;
          const count = async (q: string | null) => {
            const r = await h.query<{ products: { totalCount: number; totalCountIsExact: boolean } }>("catalog", Q, { q });
            if (r.errors?.length) throw new Error(JSON.stringify(r.errors));
            const { totalCount, totalCountIsExact } = (r.data as { products: { totalCount: number; totalCountIsExact: boolean } }).products;
            return { totalCount, totalCountIsExact };
          };
          expect(await count("gizmo")).toEqual({ totalCount: 5, totalCountIsExact: true });
          expect(await count("widget")).toEqual({ totalCount: SEARCH_COUNT_BOUND, totalCountIsExact: false });
          expect(await count("widget 1000")).toEqual({ totalCount: 1, totalCountIsExact: true });
          expect(await count(null)).toEqual({ totalCount: SEARCH_COUNT_BOUND + 6, totalCountIsExact: true });
        } finally {
          await h.stop();
        }
      });
    });

    describe("broad searches rank a bounded set of candidates", () => {
      let config: DatabaseConfig;
      let bounded: SqlCatalogStore;
      let exact: SqlCatalogStore;
      beforeAll(async () => {
        config = await freshConfig(kind);
        bounded = await openCatalogDatabase(config, { searchCacheEntries: 0 });
        exact = await openCatalogDatabase(config, { searchCacheEntries: 0, searchRankCandidates: Number.POSITIVE_INFINITY });
        await bounded.seedIfEmpty(BROAD);
      });
      afterAll(async () => {
        await bounded.close();
        await exact.close();
      });
      /** Every page of a search, `first` at a time: ids and positions. */
      const pages = async (store: CatalogStore, terms: string[], first: number) => {
        const out: { id: string; position: ProductPosition }[] = [];
        let after: ProductPosition | undefined;
        for (let i = 0; i < 300; i++) {
          const page = await store.listProducts({ terms, first, ...(after ? { after } : {}) });
          out.push(...page.items.map((it) => ({ id: it.product.id, position: it.position })));
          if (!page.hasNextPage) return out;
          after = page.items.at(-1)?.position;
        }
        throw new Error("pagination did not end");
      };

      test("up to the bound: the same pages and scores as ranking every match", async () => {
        for (const q of ["widget 1", "gizmo", "widget 99", "small gadget 5"]) {
          const terms = searchTerms(q);
          expect(await bounded.countProducts({ terms })).toBeLessThanOrEqual(SEARCH_COUNT_BOUND);
          expect({ q, pages: await pages(bounded, terms, 10) }).toEqual({ q, pages: await pages(exact, terms, 10) });
        }
      });

      test("above it: the bound's number of distinct matches, in score order, each with its exact score, the same on every walk", async () => {
        const terms = searchTerms("widget");
        const all = new Map((await pages(exact, terms, 100)).map((r) => [r.id, r.position]));
        expect(all.size).toBe(SEARCH_COUNT_BOUND + 6);
        const walk = await pages(bounded, terms, 100);
        expect(walk.length).toBe(SEARCH_COUNT_BOUND);
        expect(new Set(walk.map((r) => r.id)).size).toBe(SEARCH_COUNT_BOUND);
        for (const r of walk) expect(r.position).toEqual(all.get(r.id) as ProductPosition);
        const keys = walk.map((r) => (r.position.order === "rank" ? [r.position.key, r.id] : []));
        // Byte order of ids (SQLite BINARY, PostgreSQL "C"), as the stores sort ties.
        const byId = (a: unknown, b: unknown): number => (String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0);
        const sorted = [...keys].sort((a, b) => (a[0] === b[0] ? byId(a[1], b[1]) : Number(a[0]) - Number(b[0])));
        expect(keys).toEqual(sorted);
        // Pages of another size, and a page cut from a deeper first page, agree.
        expect((await pages(bounded, terms, 7)).map((r) => r.id)).toEqual(walk.map((r) => r.id));
        const deep = await bounded.listProducts({ terms, first: 100 });
        expect(deep.items.slice(0, 10).map((i) => i.product.id)).toEqual(walk.slice(0, 10).map((r) => r.id));
      });
    });

    describe("short prefixes", () => {
      let store: SqlCatalogStore;
      const all = DEMO.flatMap((c) => c.products);
      beforeAll(async () => {
        store = await openCatalogDatabase(await freshConfig(kind), { searchCacheEntries: 0 });
        await store.seedIfEmpty(DEMO);
      });
      afterAll(async () => {
        await store.close();
      });
      const expected = (prefixes: string[]): string[] =>
        all
          .filter((p) => {
            const ws = words(`${p.name} ${p.description}`);
            return prefixes.every((x) => ws.some((w) => w.startsWith(x)));
          })
          .map((p) => p.id)
          .sort();

      test("1-, 2- and 3-character prefixes find every product with a word starting so, over all pages", async () => {
        for (const q of ["a", "s", "c", "e", "x", "st", "ca", "ch", "es", "zz", "cas", "ste", "c s", "s t", "É", "ça"]) {
          const terms = searchTerms(q);
          const want = expected(words(q));
          expect({ q, ids: (await walk(store, terms)).sort() }).toEqual({ q, ids: want });
          expect({ q, n: await store.countProducts({ terms }) }).toEqual({ q, n: want.length });
        }
      });

      test("the prefix index follows inserts, renames and deletes", async () => {
        const [category] = DEMO as [NewCategory];
        const product = await store.createProduct({
          id: newId(),
          categoryId: category.id,
          name: "Zyxo Vuqa",
          description: "Qwerty.",
          priceCents: 1,
          currency: "USD",
          stock: 1,
          createdAt: CREATED,
        });
        const find = async (q: string) =>
          (await store.listProducts({ terms: searchTerms(q), first: 100 })).items.map((i) => i.product.name);
        expect(await find("zy")).toEqual(["Zyxo Vuqa"]);
        expect(await find("q")).toContain("Zyxo Vuqa");
        expect(await find("qw")).toEqual(["Zyxo Vuqa"]);
        await store.updateProduct(product.id, { name: "Jyvo Xuqa" });
        expect(await find("qw")).toEqual(["Jyvo Xuqa"]); // the description is unchanged
        expect(await find("zy")).toEqual([]);
        expect(await find("z")).not.toContain("Jyvo Xuqa");
        expect(await find("jy")).toEqual(["Jyvo Xuqa"]);
        expect(await find("x")).toContain("Jyvo Xuqa");
        await sql`DELETE FROM products WHERE id = ${product.id}`.execute(store.db);
        expect(await find("jy")).toEqual([]);
        expect(await find("x")).not.toContain("Jyvo Xuqa");
        if (kind === "sqlite") await sql.raw("INSERT INTO products_search (products_search) VALUES ('integrity-check')").execute(store.db);
      });
    });

    test("an existing database (before migration 9) with products migrates and searches as a new one", async () => {
      const config = await freshConfig(kind);
      const old = openDatabase<CatalogTables>(config);
      expect(await migrate(old, CATALOG_MIGRATIONS.slice(0, 8))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      // Seeded at version 8: the products reach the old index (products_fts) only.
      expect(await new SqlCatalogStore(old).seedIfEmpty(DEMO)).toBeGreaterThan(0);
      await old.close();

      const migrated = await openCatalogDatabase(config, { searchCacheEntries: 0 });
      const fresh = await openCatalogDatabase(await freshConfig(kind), { searchCacheEntries: 0 });
      try {
        await fresh.seedIfEmpty(DEMO);
        for (const q of ["espres", "st", "a", "cast iron", "coffee", "ünïcödé café", "nonexistent"]) {
          const terms = searchTerms(q);
          const a = await migrated.listProducts({ terms, first: 100 });
          const b = await fresh.listProducts({ terms, first: 100 });
          expect({ q, page: a.items.map((i) => [i.product.id, i.position]) }).toEqual({
            q,
            page: b.items.map((i) => [i.product.id, i.position]),
          });
          expect({ q, n: await migrated.countProducts({ terms }) }).toEqual({ q, n: await fresh.countProducts({ terms }) });
        }
        expect((await migrated.listProducts({ terms: ["espres"], first: 100 })).items.length).toBeGreaterThan(0);
        if (kind === "sqlite") {
          await sql.raw("INSERT INTO products_search (products_search) VALUES ('integrity-check')").execute(migrated.db);
          const tables = await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE name LIKE 'products_fts%'`.execute(migrated.db);
          expect(tables.rows).toEqual([]);
        }
      } finally {
        await migrated.close();
        await fresh.close();
      }
    });
  });
