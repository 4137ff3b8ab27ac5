import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import type { DatabaseConfig } from "../../src/kernel/index.ts";
import { newId } from "../../src/kernel/ids.ts";
import { openDatabase } from "../../src/kernel/storage/database.ts";
import { migrate } from "../../src/kernel/storage/migrate.ts";
import { searchTerms } from "../../src/modules/catalog/search.ts";
import { DEMO_CATALOG, DEMO_CURRENCY } from "../../src/modules/catalog/seed.ts";
import { CATALOG_MIGRATIONS } from "../../src/modules/catalog/storage/migrations.ts";
import { openCatalogDatabase, SqlCatalogStore } from "../../src/modules/catalog/storage/store.ts";
import type { CatalogDb, CatalogTables } from "../../src/modules/catalog/storage/tables.ts";
import type { CatalogStore, NewCategory, ProductRecord } from "../../src/modules/catalog/storage/types.ts";
import { DATABASES, type DatabaseKind, freshPostgresDatabase, usePostgres } from "../helpers/databases.ts";

/**
 * Term frequencies kept by triggers (issue 13, catalog migration 10): on PostgreSQL,
 * `search_terms` holds for every prefix the number of products it matches, which bm25's IDF
 * reads instead of counting over the GIN index. It must stay exact under every kind of write,
 * and searches after writes must rank exactly as a database built from the resulting rows.
 */

usePostgres();

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function freshConfig(kind: DatabaseKind): Promise<DatabaseConfig> {
  if (kind === "postgres") return { kind: "postgres", url: await freshPostgresDatabase(), poolMax: 3 };
  const d = mkdtempSync(join(tmpdir(), "catalog-search-terms-"));
  dirs.push(d);
  return { kind: "sqlite", path: join(d, "catalog.sqlite") };
}

const CREATED = "2024-05-01T12:00:00.000Z";

/** The demo catalog with fixed ids, and a few products sharing prefixes ("ste", "steel", "steep"). */
const catalog = (): NewCategory[] => [
  ...DEMO_CATALOG.map((c) => ({
    id: newId(),
    name: c.name,
    products: c.products.map((p) => ({ id: newId(), ...p, currency: DEMO_CURRENCY, createdAt: CREATED })),
  })),
  {
    id: newId(),
    name: "Steel",
    products: ["Steel steep stew", "Steep steel", "Stew pot", "Steelworks steel"].map((name, i) => ({
      id: newId(),
      name,
      description: `Number ${i} of the steel series, steeped in ${i % 2 ? "tea" : "stew"}.`,
      priceCents: 100 + i,
      currency: "USD",
      stock: 5,
      createdAt: CREATED,
    })),
  },
];

/**
 * Differences between `search_terms` and a recount from the products' search vectors (an
 * oracle that does not use the triggers), and between each prefix's count and the rows the
 * search's own match condition finds for it (`search_prefixes` for up to 3 characters, a
 * prefix query on `search` above): both empty when the table is exact.
 */
async function termErrors(db: CatalogDb): Promise<unknown[]> {
  const recount = await sql<{ prefix: string; kept: number | null; counted: number | null }>`
    WITH counted AS (
      SELECT t.prefix, count(*)::int AS n FROM products p, catalog_search_terms(p.search) AS t(prefix) GROUP BY t.prefix
    )
    SELECT coalesce(s.prefix, c.prefix) AS prefix, s.docs::int AS kept, c.n AS counted
    FROM search_terms s FULL JOIN counted c ON c.prefix = s.prefix
    WHERE s.docs IS DISTINCT FROM c.n`.execute(db);
  const matched = await sql<{ prefix: string; docs: number; n: number }>`
    SELECT s.prefix, s.docs::int AS docs, m.n FROM search_terms s CROSS JOIN LATERAL (
      SELECT count(*)::int AS n FROM products p WHERE CASE WHEN char_length(s.prefix) <= 3
        THEN p.search_prefixes @@ quote_literal(s.prefix)::tsquery
        ELSE p.search @@ (quote_literal(s.prefix) || ':*')::tsquery END
    ) m WHERE m.n <> s.docs`.execute(db);
  return [...recount.rows, ...matched.rows];
}

const QUERIES = ["steel", "ste", "s", "stee", "steep stew", "espres", "coffee", "cast iron", "a", "tea", "number 3", "nonexistent"];

/** Every query's first page (ids and rank positions) and count. */
async function results(store: CatalogStore): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const q of QUERIES) {
    const terms = searchTerms(q);
    const page = await store.listProducts({ terms, first: 20 });
    out.push({ q, page: page.items.map((i) => [i.product.id, i.position]), n: await store.countProducts({ terms }) });
  }
  return out;
}

/** A database of `kind` seeded with `rows` only (ids kept), built by inserts: the reference. */
async function rebuilt(kind: DatabaseKind, categories: NewCategory[], rows: ProductRecord[]): Promise<SqlCatalogStore> {
  const store = await openCatalogDatabase(await freshConfig(kind), { searchCacheEntries: 0 });
  await store.seedIfEmpty(
    categories.map((c) => ({
      id: c.id,
      name: c.name,
      products: rows
        .filter((p) => p.categoryId === c.id)
        .map(({ id, name, description, priceCents, currency, stock, createdAt }) => ({
          id,
          name,
          description,
          priceCents,
          currency,
          stock,
          createdAt,
        })),
    })),
  );
  return store;
}

for (const kind of DATABASES)
  describe(`search term frequencies [${kind}]`, () => {
    const cats = catalog();
    let store: SqlCatalogStore;
    let other: SqlCatalogStore;
    beforeAll(async () => {
      const config = await freshConfig(kind);
      store = await openCatalogDatabase(config, { searchCacheEntries: 0 });
      other = await openCatalogDatabase(config, { searchCacheEntries: 0 });
      await store.seedIfEmpty(cats);
    });
    afterAll(async () => {
      await store.close();
      await other.close();
    });

    const exact = async (): Promise<void> => {
      if (kind === "postgres") expect(await termErrors(store.db)).toEqual([]);
    };
    /** The store's results equal those of a database built from its current rows. */
    const sameAsRebuilt = async (): Promise<void> => {
      const rows = (await store.listProducts({ first: 1000 })).items.map((i) => i.product);
      const ref = await rebuilt(kind, cats, rows);
      try {
        expect(await results(store)).toEqual(await results(ref));
      } finally {
        await ref.close();
      }
    };

    test("exact after a bulk seed; every prefix's count is what its match finds", async () => {
      await exact();
      if (kind === "postgres") {
        const n = await sql<{
          n: number;
        }>`SELECT count(*)::int AS n FROM search_terms WHERE prefix IN ('s', 'st', 'ste', 'stee', 'steel')`.execute(store.db);
        expect(n.rows[0]?.n).toBe(5);
      }
      await sameAsRebuilt();
    });

    test("a seed of more than one chunk (counted once at the end on PostgreSQL) is exact, and later inserts still count", async () => {
      const big = await openCatalogDatabase(await freshConfig(kind), { searchCacheEntries: 0 });
      try {
        const categoryId = newId();
        const products = Array.from({ length: 1_234 }, (_, i) => ({
          id: newId(),
          name: `Seeded ${["steel", "steep", "stew", "oak"][i % 4]} item ${i}`,
          description: `Bulk product number ${i}, word${i % 37}.`,
          priceCents: 100 + i,
          currency: "USD",
          stock: 3,
          createdAt: CREATED,
        }));
        expect(await big.seedIfEmpty([{ id: categoryId, name: "Bulk", products }])).toBe(1_234);
        const later = { ...(products[0] as (typeof products)[number]), id: newId(), name: "Steeple after the seed" };
        await big.createProduct({ ...later, categoryId });
        if (kind === "postgres") {
          expect(await termErrors(big.db)).toEqual([]);
          const steel = await sql<{ docs: number }>`SELECT docs::int AS docs FROM search_terms WHERE prefix = 'steep'`.execute(big.db);
          // 309 seeded "steep" names (i % 4 = 1) and the product written after the seed ("steeple").
          expect(steel.rows[0]?.docs).toBe(310);
        }
        const found = await big.listProducts({ terms: searchTerms("steeple"), first: 5 });
        expect(found.items.map((i) => i.product.name)).toEqual(["Steeple after the seed"]);
      } finally {
        await big.close();
      }
    });

    test("inserts, text changes (and unchanged text), stock changes and deletes keep it exact", async () => {
      const [first] = cats as [NewCategory];
      const a = await store.createProduct({
        id: newId(),
        categoryId: first.id,
        name: "Steeple stew",
        description: "Steel and qwertz.",
        priceCents: 1,
        currency: "USD",
        stock: 1,
        createdAt: CREATED,
      });
      // Written through another store on the same database: the triggers, not the process, keep it.
      const b = await other.createProduct({
        id: newId(),
        categoryId: first.id,
        name: "Qwertz",
        description: "Steep.",
        priceCents: 1,
        currency: "USD",
        stock: 1,
        createdAt: CREATED,
      });
      await exact();
      await sameAsRebuilt();
      await store.updateProduct(a.id, { name: "Stewpot", description: "Steel and qwertz." });
      await other.updateProduct(b.id, { description: "Steep." }); // unchanged text
      await store.updateProduct(b.id, { priceCents: 7 });
      await store.setStock(a.id, 3);
      await exact();
      await sameAsRebuilt();
      await sql`DELETE FROM products WHERE id = ${a.id}`.execute(store.db);
      await exact();
      if (kind === "postgres") {
        // A prefix no product has any more is gone, not left at 0.
        const gone = await sql<{
          n: number;
        }>`SELECT count(*)::int AS n FROM search_terms WHERE prefix IN ('stewp', 'stewpot') OR docs <= 0`.execute(store.db);
        expect(gone.rows[0]?.n).toBe(0);
      }
      const steel = (await store.listProducts({ terms: ["steel"], first: 100 })).items.map((i) => i.product.id).slice(0, 2);
      await sql`DELETE FROM products WHERE id IN (${sql.join(steel)})`.execute(store.db);
      await exact();
      await sameAsRebuilt();
    });

    // PostgreSQL only: its writers run concurrently (SQLite serialises them on the file lock),
    // so two inserts sharing prefixes must not deadlock on search_terms' rows nor lose a count.
    if (kind === "postgres")
      test("concurrent writers (two stores, interleaved) keep it exact", async () => {
        const [, second] = cats as [NewCategory, NewCategory];
        const make = (s: SqlCatalogStore, i: number) =>
          s.createProduct({
            id: newId(),
            categoryId: second.id,
            name: `Steel stewpot ${i}`,
            description: i % 2 ? "Steep." : "Qwertz stew.",
            priceCents: 1,
            currency: "USD",
            stock: 1,
            createdAt: CREATED,
          });
        await Promise.all(Array.from({ length: 20 }, (_, i) => make(i % 2 ? store : other, i)));
        await exact();
        await sameAsRebuilt();
      });

    test("emptied (TRUNCATE on PostgreSQL, DELETE on SQLite) and seeded again", async () => {
      if (kind === "postgres") await sql`TRUNCATE products CASCADE`.execute(store.db);
      else await sql`DELETE FROM products`.execute(store.db);
      await sql`DELETE FROM categories`.execute(store.db);
      await exact();
      if (kind === "postgres") {
        const n = await sql<{ n: number }>`SELECT count(*)::int AS n FROM search_terms`.execute(store.db);
        expect(n.rows[0]?.n).toBe(0);
      }
      expect(await store.countProducts({ terms: ["steel"] })).toBe(0);
      await store.seedIfEmpty(cats);
      await exact();
      await sameAsRebuilt();
    });
  });

for (const kind of DATABASES)
  test(`[${kind}] an existing database (before migration 10) with products migrates and ranks as a new one`, async () => {
    const cats = catalog();
    const config = await freshConfig(kind);
    const old = openDatabase<CatalogTables>(config);
    expect(await migrate(old, CATALOG_MIGRATIONS.slice(0, 9))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await new SqlCatalogStore(old).seedIfEmpty(cats)).toBeGreaterThan(0);
    await old.close();
    const migrated = await openCatalogDatabase(config, { searchCacheEntries: 0 });
    const fresh = await openCatalogDatabase(await freshConfig(kind), { searchCacheEntries: 0 });
    try {
      await fresh.seedIfEmpty(cats);
      if (kind === "postgres") expect(await termErrors(migrated.db)).toEqual([]);
      expect(await results(migrated)).toEqual(await results(fresh));
    } finally {
      await migrated.close();
      await fresh.close();
    }
  });
