import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Glob } from "bun";
import { catalogModule } from "../../src/modules/catalog/module.ts";
import { DEMO_CATALOG } from "../../src/modules/catalog/seed.ts";
import { DATABASES, usePostgres } from "../helpers/databases.ts";
import { startModules, type ModuleHarness } from "../helpers/modules.ts";

/** The catalog's GraphQL API against the seeded demo catalog. */

interface Node {
  id: string;
  name: string;
  description: string;
  stock: number;
  inStock: boolean;
  price: { amount: string; cents: number; currency: string };
  category: { id: string; name: string };
  createdAt: string;
}
interface Conn {
  totalCount: number;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  edges: { cursor: string; node: Node }[];
}

const NODE = "id name description stock inStock price { amount cents currency } category { id name } createdAt";
const PRODUCTS = `query P($search: String, $categoryId: ID, $first: Int, $after: String) {
  products(search: $search, categoryId: $categoryId, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { ${NODE} } }
  }
}`;
const TOTAL = DEMO_CATALOG.reduce((n, c) => n + c.products.length, 0);

usePostgres();

for (const db of DATABASES)
  describe(`catalog [${db}]`, () => {
    let h: ModuleHarness;
    let categories: { id: string; name: string }[];

    async function gql<T>(query: string, variables?: Record<string, unknown>): Promise<T> {
      const r = await h.query<T>("catalog", query, variables);
      if (r.errors?.length) throw new Error(JSON.stringify(r.errors));
      return r.data as T;
    }
    async function errorCode(query: string, variables?: Record<string, unknown>): Promise<unknown> {
      const r = await h.query("catalog", query, variables);
      return r.errors?.[0]?.extensions?.["code"];
    }
    const products = async (vars: Record<string, unknown>): Promise<Conn> => (await gql<{ products: Conn }>(PRODUCTS, vars)).products;
    const search = async (text: string, first = 100): Promise<Conn> => products({ search: text, first });
    const names = (c: Conn): string[] => c.edges.map((e) => e.node.name);
    const categoryId = (name: string): string => {
      const c = categories.find((x) => x.name === name);
      if (!c) throw new Error(`no category ${name}`);
      return c.id;
    };

    beforeAll(async () => {
      h = await startModules([catalogModule], { seed: true }, { database: db });
      categories = (await gql<{ categories: { id: string; name: string }[] }>("{ categories { id name } }")).categories;
    });
    afterAll(async () => {
      await h.stop();
    });

    describe("catalog queries", () => {
      test("categories: every seeded category, ordered by name, with KSUID ids", () => {
        expect(categories.map((c) => c.name)).toEqual(DEMO_CATALOG.map((c) => c.name).sort());
        for (const c of categories) expect(c.id).toMatch(/^[0-9A-Za-z]{27}$/);
      });

      test("products: first page defaults to 20, ordered by name, totalCount counts all", async () => {
        const page = await products({});
        expect(page.edges).toHaveLength(20);
        expect(page.totalCount).toBe(TOTAL);
        expect(page.pageInfo.hasNextPage).toBe(true);
        expect(page.pageInfo.endCursor).toBe(page.edges.at(-1)?.cursor ?? "missing");
        const n = names(page);
        expect(n).toEqual([...n].sort());
      });

      test("products: cursors walk every product exactly once, in order", async () => {
        const seen: Node[] = [];
        let after: string | null = null;
        for (let pages = 0; pages < 20; pages++) {
          const page: Conn = await products({ first: 7, after });
          expect(page.totalCount).toBe(TOTAL);
          seen.push(...page.edges.map((e) => e.node));
          if (!page.pageInfo.hasNextPage) break;
          after = page.pageInfo.endCursor;
        }
        expect(seen).toHaveLength(TOTAL);
        expect(new Set(seen.map((p) => p.id)).size).toBe(TOTAL);
        expect(seen.map((p) => p.name)).toEqual(seen.map((p) => p.name).sort());
        const all = await products({ first: 100 });
        expect(all.edges.map((e) => e.node.id)).toEqual(seen.map((p) => p.id));
        expect(all.pageInfo.hasNextPage).toBe(false);
      });

      test("products: first 0 gives an empty page with a null endCursor", async () => {
        const page = await products({ first: 0 });
        expect(page.edges).toEqual([]);
        expect(page.pageInfo).toEqual({ hasNextPage: true, endCursor: null });
        expect(page.totalCount).toBe(TOTAL);
      });

      test("products: first outside 0..100 and malformed cursors are BAD_USER_INPUT", async () => {
        expect(await errorCode(PRODUCTS, { first: 101 })).toBe("BAD_USER_INPUT");
        expect(await errorCode(PRODUCTS, { first: -1 })).toBe("BAD_USER_INPUT");
        expect(await errorCode(PRODUCTS, { after: "not a cursor!" })).toBe("BAD_USER_INPUT");
        expect(await errorCode(PRODUCTS, { after: Buffer.from("{oops").toString("base64url") })).toBe("BAD_USER_INPUT");
        expect(await errorCode(PRODUCTS, { after: Buffer.from('["n",1,2]').toString("base64url") })).toBe("BAD_USER_INPUT");
        expect(await errorCode(PRODUCTS, { after: "" })).toBe(undefined); // empty = no cursor
        // A cursor belongs to its ordering: a name-ordered cursor cannot continue a search.
        const listing = await products({ first: 1 });
        expect(await errorCode(PRODUCTS, { search: "coffee", after: listing.pageInfo.endCursor })).toBe("BAD_USER_INPUT");
      });

      test("product: fields, money, ISO createdAt, category; unknown id is null", async () => {
        const page = await products({ first: 100 });
        const mug = page.edges.map((e) => e.node).find((p) => p.name === "Limited Edition Enamel Camp Mug");
        if (!mug) throw new Error("mug missing");
        const { product } = await gql<{ product: Node }>(`query($id: ID!) { product(id: $id) { ${NODE} } }`, { id: mug.id });
        expect(product).toEqual(mug);
        expect(product.stock).toBe(10);
        expect(product.inStock).toBe(true);
        expect(product.price).toEqual({ amount: "24.00", cents: 2400, currency: "USD" });
        expect(product.category.name).toBe("Outdoor");
        expect(new Date(product.createdAt).toISOString()).toBe(product.createdAt);
        const missing = await gql<{ product: null }>(`query($id: ID!) { product(id: $id) { id } }`, { id: "2ZZZZZZZZZZZZZZZZZZZZZZZZZZ" });
        expect(missing.product).toBeNull();
        const soldOut = page.edges.map((e) => e.node).find((p) => p.stock === 0);
        expect(soldOut?.inStock).toBe(false);
      });

      test("categoryId filters products and totalCount", async () => {
        const kitchen = await products({ categoryId: categoryId("Kitchen"), first: 100 });
        const expected = DEMO_CATALOG.find((c) => c.name === "Kitchen")?.products.length;
        expect(kitchen.totalCount).toBe(expected ?? -1);
        expect(kitchen.edges).toHaveLength(expected ?? -1);
        for (const e of kitchen.edges) expect(e.node.category.name).toBe("Kitchen");
        const none = await products({ categoryId: "2ZZZZZZZZZZZZZZZZZZZZZZZZZZ" });
        expect(none.totalCount).toBe(0);
        expect(none.edges).toEqual([]);
      });

      test("Category.products paginates like Query.products; category(id) looks one up", async () => {
        const id = categoryId("Coffee & Tea");
        const q = `query($id: ID!, $after: String) { category(id: $id) { id name products(first: 5, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { name category { id } } } } } }`;
        type R = { category: { id: string; name: string; products: Conn } };
        const p1 = (await gql<R>(q, { id })).category;
        expect(p1.name).toBe("Coffee & Tea");
        expect(p1.products.totalCount).toBe(9);
        expect(p1.products.edges).toHaveLength(5);
        expect(p1.products.pageInfo.hasNextPage).toBe(true);
        const p2 = (await gql<R>(q, { id, after: p1.products.pageInfo.endCursor })).category;
        expect(p2.products.edges).toHaveLength(4);
        expect(p2.products.pageInfo.hasNextPage).toBe(false);
        const all = [...names(p1.products), ...names(p2.products)];
        expect(all).toEqual([...all].sort());
        expect(new Set(all).size).toBe(9);
        for (const e of [...p1.products.edges, ...p2.products.edges]) expect(e.node.category.id).toBe(id);
        expect((await gql<{ category: null }>(`{ category(id: "2ZZZZZZZZZZZZZZZZZZZZZZZZZZ") { id } }`)).category).toBeNull();
      });
    });

    describe("search", () => {
      test("a word that is only in a description finds the product", async () => {
        const r = await search("sauerkraut");
        expect(names(r)).toEqual(["Stoneware Fermentation Crock"]);
        expect(r.totalCount).toBe(1);
      });

      test("prefixes match, case-insensitively: 'espres' finds espresso", async () => {
        const full = await search("espresso");
        const prefix = await search("espres");
        const upper = await search("ESPRES");
        expect(names(prefix)).toEqual(names(full));
        expect(names(upper)).toEqual(names(full));
        expect(names(prefix)).toContain("Conical Burr Coffee Grinder"); // "espresso" only in its description
        expect(names(prefix)).toContain("Stovetop Espresso Maker"); // only in its name
        expect(prefix.totalCount).toBe(prefix.edges.length);
      });

      test("ranking: name matches come before description-only matches", async () => {
        const r = await search("espresso");
        const inName = r.edges.map((e) => e.node.name.toLowerCase().includes("espresso"));
        expect(inName.filter(Boolean).length).toBeGreaterThanOrEqual(2);
        expect(inName.filter((x) => !x).length).toBeGreaterThanOrEqual(2);
        // Once the first description-only match appears, no name match follows.
        expect(inName.indexOf(false)).toBe(inName.lastIndexOf(true) + 1);
        const f = await search("fermentation");
        expect(names(f)[0]).toBe("The Art of Fermentation");
        expect(names(f)).toContain("Stoneware Fermentation Crock");
      });

      test("several words must all match; combined with categoryId", async () => {
        const r = await search("cast iron");
        expect(names(r).sort()).toEqual(["Cast Iron Kettlebell", "Cast Iron Skillet", "Enamelled Dutch Oven"]);
        const kitchen = await products({ search: "cast iron", categoryId: categoryId("Kitchen"), first: 10 });
        expect(names(kitchen).sort()).toEqual(["Cast Iron Skillet", "Enamelled Dutch Oven"]);
        expect(kitchen.totalCount).toBe(2);
      });

      test("search results paginate by rank with cursors", async () => {
        const all = await search("steel");
        expect(all.totalCount).toBeGreaterThan(3);
        const walked: string[] = [];
        let after: string | null = null;
        for (;;) {
          const page: Conn = await products({ search: "steel", first: 2, after });
          expect(page.totalCount).toBe(all.totalCount);
          walked.push(...page.edges.map((e) => e.node.id));
          if (!page.pageInfo.hasNextPage) break;
          after = page.pageInfo.endCursor;
        }
        expect(walked).toEqual(all.edges.map((e) => e.node.id));
      });

      test("empty, whitespace and punctuation-only searches do not filter", async () => {
        for (const s of ["", "   ", "\t\n", "*", '"', "()"]) {
          expect((await search(s)).totalCount).toBe(TOTAL);
        }
      });

      test("FTS syntax in user input is inert (never an error, never an operator)", async () => {
        const inputs = [
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
          "\u0000",
          "ünïcödé café",
        ];
        for (const s of inputs) {
          const r = await h.query<{ products: Conn }>("catalog", PRODUCTS, { search: s, first: 5 });
          expect(r.errors).toBeUndefined();
        }
        // "OR" is a word, not an operator: both words must match, so this finds nothing.
        expect((await search("espresso OR kettle")).totalCount).toBe(0);
        // A quote does not open a phrase: it separates words.
        expect(names(await search('"espresso'))).toEqual(names(await search("espresso")));
        expect((await search("'; DROP TABLE products; --")).totalCount).toBe(0);
        expect((await products({ first: 1 })).totalCount).toBe(TOTAL);
      });

      test("a search longer than 200 characters is BAD_USER_INPUT", async () => {
        expect(await errorCode(PRODUCTS, { search: "a".repeat(201) })).toBe("BAD_USER_INPUT");
      });
    });

    describe("federation", () => {
      test("_service exposes the Federation v2 SDL with the entity keys", async () => {
        const { _service } = await gql<{ _service: { sdl: string } }>("{ _service { sdl } }");
        expect(_service.sdl).toMatch(/type Product\s+@key\(fields: "id"\)/);
        expect(_service.sdl).toMatch(/type Category\s+@key\(fields: "id"\)/);
        expect(_service.sdl).toMatch(/type PageInfo\s+@shareable/);
        expect(_service.sdl).toContain("federation/v2.5");
      });

      test("_entities resolves Product and Category references in one call (unknown → null)", async () => {
        const page = await products({ first: 100 });
        const nodes = page.edges.map((e) => e.node);
        const reps = [
          ...nodes.map((p) => ({ __typename: "Product", id: p.id })),
          { __typename: "Product", id: "2ZZZZZZZZZZZZZZZZZZZZZZZZZZ" },
          ...categories.map((c) => ({ __typename: "Category", id: c.id })),
          { __typename: "Category", id: "2ZZZZZZZZZZZZZZZZZZZZZZZZZZ" },
        ];
        const q = `query($r: [_Any!]!) { _entities(representations: $r) {
        __typename
        ... on Product { id name stock price { cents } category { id name } }
        ... on Category { id name products(first: 1) { totalCount } }
      } }`;
        type E = { __typename: string; id: string; name: string; category?: { id: string }; products?: { totalCount: number } } | null;
        const { _entities } = await gql<{ _entities: E[] }>(q, { r: reps });
        expect(_entities).toHaveLength(reps.length);
        nodes.forEach((p, i) => {
          expect(_entities[i]).toMatchObject({ __typename: "Product", id: p.id, name: p.name, category: { id: p.category.id } });
        });
        expect(_entities[nodes.length]).toBeNull();
        categories.forEach((c, i) => {
          const e = _entities[nodes.length + 1 + i];
          expect(e).toMatchObject({ __typename: "Category", id: c.id, name: c.name });
          expect(e?.products?.totalCount).toBe(DEMO_CATALOG.find((d) => d.name === c.name)?.products.length ?? -1);
        });
        expect(_entities.at(-1)).toBeNull();
      });
    });
  });

describe("catalog source", () => {
  test("the catalog's SQL never uses LIKE (search is FTS5 or tsvector)", () => {
    const root = join(import.meta.dir, "../../src/modules/catalog");
    // SQL keywords are upper case in this code base; lower-case "like" is English prose.
    for (const file of new Glob("**/*.ts").scanSync({ cwd: root })) {
      expect({ file, like: /\b(LIKE|GLOB)\b/.test(readFileSync(join(root, file), "utf8")) }).toEqual({ file, like: false });
    }
  });
});
