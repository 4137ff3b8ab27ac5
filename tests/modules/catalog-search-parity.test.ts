import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { newId } from "../../src/kernel/ids.ts";
import { searchTerms } from "../../src/modules/catalog/search.ts";
import { DEMO_CATALOG, DEMO_CURRENCY } from "../../src/modules/catalog/seed.ts";
import { openCatalogDatabase, type SqlCatalogStore } from "../../src/modules/catalog/storage/store.ts";
import type { CatalogStore, NewCategory, ProductPosition } from "../../src/modules/catalog/storage/types.ts";
import { freshPostgresDatabase, usePostgres, WITH_POSTGRES } from "../helpers/databases.ts";

/**
 * The PostgreSQL catalog store answers searches exactly as the SQLite (FTS5) one: same
 * products, same order, same bm25 scores (to float rounding), same counts and cursors, on the
 * demo catalog seeded with the same ids in both.
 */

usePostgres();

/** The demo catalog with fixed ids and time, so both stores hold identical rows. */
const CATALOG: NewCategory[] = (() => {
  const createdAt = "2024-05-01T12:00:00.000Z";
  return DEMO_CATALOG.map((c) => ({
    id: newId(),
    name: c.name,
    products: c.products.map((p) => ({ id: newId(), ...p, currency: DEMO_CURRENCY, createdAt })),
  }));
})();
const categoryId = (name: string): string => CATALOG.find((c) => c.name === name)?.id ?? "missing";

/** The search cases of catalog.test.ts, verbatim. */
const SUITE_CASES = [
  "sauerkraut",
  "espresso",
  "espres",
  "ESPRES",
  "fermentation",
  "cast iron",
  "steel",
  '"foo" OR',
  "OR",
  "AND NOT",
  "NEAR(a b)",
  "name:espresso",
  "espresso*",
  '"espresso',
  "espresso OR kettle",
  "-espresso",
  "^espresso",
  "'; DROP TABLE products; --",
  "e%",
  "_",
  "{a b}",
  "a + b",
  "ünïcödé café",
];

/** More queries: single words, prefixes, several words, description-only words, no match, edge cases. */
const MORE_CASES = [
  "coffee",
  "tea",
  "glass",
  "blue",
  "st",
  "ca",
  "a",
  "s",
  "water bottle",
  "green tea",
  "steel mug",
  "jasmine", // only in a description
  "oxygen", // only in a description
  "bergamot blueberry",
  "nonexistent",
  "zzzz",
  "1.5", // "1.5-litre": FTS5 splits at '.', so must PostgreSQL
  "5 litre",
  "six cup", // "Six-cup": hyphenated
  "chef s", // "Chef's"
  "Éspresso", // diacritics fold on both sides
  "cást",
  "\u0301", // a combining mark alone: an empty term, nothing matches
  "cast \u0301", // an empty term among others is ignored
  "cast cast", // a repeated term counts twice in both
];

/** Every page of a query, 3 at a time, following the positions (cursors) each store returns. */
async function walk(store: CatalogStore, terms: string[] | undefined, categoryId?: string): Promise<string[]> {
  const ids: string[] = [];
  let after: ProductPosition | undefined;
  for (let i = 0; i < 50; i++) {
    const page = await store.listProducts({
      first: 3,
      ...(terms ? { terms } : {}),
      ...(categoryId ? { categoryId } : {}),
      ...(after ? { after } : {}),
    });
    ids.push(...page.items.map((it) => it.product.id));
    if (!page.hasNextPage) return ids;
    after = page.items.at(-1)?.position;
  }
  throw new Error("pagination did not end");
}

describe.if(WITH_POSTGRES)("search parity: SQLite FTS5 vs PostgreSQL tsvector + bm25", () => {
  let lite: SqlCatalogStore;
  let pg: SqlCatalogStore;
  beforeAll(async () => {
    lite = await openCatalogDatabase({ kind: "sqlite", path: ":memory:" });
    pg = await openCatalogDatabase({ kind: "postgres", url: await freshPostgresDatabase(), poolMax: 3 });
    expect(await lite.seedIfEmpty(CATALOG)).toBe(await pg.seedIfEmpty(CATALOG));
  });
  afterAll(async () => {
    await lite.close();
    await pg.close();
  });

  test.each([...SUITE_CASES, ...MORE_CASES].map((q) => [q]))("%p: same products in the same order, same scores and count", async (q) => {
    const terms = searchTerms(q);
    const a = await lite.listProducts({ terms, first: 100 });
    const b = await pg.listProducts({ terms, first: 100 });
    expect(b.items.map((i) => i.product.id)).toEqual(a.items.map((i) => i.product.id));
    // Whole rows too: money, stock, category and the ISO timestamp come back alike.
    expect(b.items.map((i) => i.product)).toEqual(a.items.map((i) => i.product));
    b.items.forEach((it, i) => {
      const other = a.items[i]?.position;
      if (it.position.order === "rank" && other?.order === "rank") {
        expect(Math.abs(it.position.key - other.key)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(other.key)));
      } else {
        // No terms (punctuation only): a listing by name, positions are names.
        expect(it.position).toEqual(other as ProductPosition);
      }
    });
    expect(await pg.countProducts({ terms })).toBe(await lite.countProducts({ terms }));
  });

  test("the suite's expectations hold on PostgreSQL", async () => {
    const names = async (q: string) => (await pg.listProducts({ terms: searchTerms(q), first: 100 })).items.map((i) => i.product.name);
    expect(await names("sauerkraut")).toEqual(["Stoneware Fermentation Crock"]);
    expect((await names("fermentation"))[0]).toBe("The Art of Fermentation");
    expect((await names("cast iron")).sort()).toEqual(["Cast Iron Kettlebell", "Cast Iron Skillet", "Enamelled Dutch Oven"]);
    expect(await names("espresso OR kettle")).toEqual([]);
    const espresso = await names("espresso");
    const inName = espresso.map((n) => n.toLowerCase().includes("espresso"));
    expect(inName.indexOf(false)).toBe(inName.lastIndexOf(true) + 1);
  });

  test("with a category filter: same products, order and count", async () => {
    for (const [q, cat] of [
      ["cast iron", "Kitchen"],
      ["steel", "Kitchen"],
      ["a", "Outdoor"],
      ["st", "Fitness"],
      ["coffee", "Books"],
    ] as const) {
      const filter = { terms: searchTerms(q), categoryId: categoryId(cat) };
      const a = await lite.listProducts({ ...filter, first: 100 });
      const b = await pg.listProducts({ ...filter, first: 100 });
      expect({ q, cat, ids: b.items.map((i) => i.product.id) }).toEqual({ q, cat, ids: a.items.map((i) => i.product.id) });
      expect(await pg.countProducts(filter)).toBe(await lite.countProducts(filter));
    }
  });

  test("cursors: walking pages of 3 gives the same sequence as one page, on both stores", async () => {
    for (const q of ["steel", "st", "a", "coffee", "espres"]) {
      const terms = searchTerms(q);
      const one = (await lite.listProducts({ terms, first: 100 })).items.map((i) => i.product.id);
      expect({ q, ids: await walk(lite, terms) }).toEqual({ q, ids: one });
      expect({ q, ids: await walk(pg, terms) }).toEqual({ q, ids: one });
    }
    // Listings by name, whole catalog and per category.
    expect(await walk(pg, undefined)).toEqual(await walk(lite, undefined));
    expect(await walk(pg, undefined, categoryId("Kitchen"))).toEqual(await walk(lite, undefined, categoryId("Kitchen")));
    expect(await pg.listCategories()).toEqual(await lite.listCategories());
  });

  test("a position from one page continues on the other store (same key, same order)", async () => {
    const terms = searchTerms("st");
    const first = await lite.listProducts({ terms, first: 5 });
    const after = first.items.at(-1)?.position;
    if (!after) throw new Error("no page");
    const a = await lite.listProducts({ terms, first: 5, after });
    const b = await pg.listProducts({ terms, first: 5, after });
    expect(b.items.map((i) => i.product.id)).toEqual(a.items.map((i) => i.product.id));
  });
});
