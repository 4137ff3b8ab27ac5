import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Msg } from "../../src/kernel/bus/types.ts";
import type { Identity } from "../../src/kernel/identity.ts";
import { CatalogEvents, type ProductChangedEvent, type StockChangedEvent } from "../../src/modules/catalog/contract/index.ts";
import { catalogModule } from "../../src/modules/catalog/module.ts";
import { DATABASES, usePostgres } from "../helpers/databases.ts";
import { startModules, type ModuleHarness } from "../helpers/modules.ts";

/**
 * The catalog's admin mutations on the catalog subgraph directly (no gateway): the module's
 * own admin check (defence in depth), validation, NOT_FOUND/CONFLICT, the search index kept
 * in step on both stores, and the events each change publishes.
 */

usePostgres();

/** Hooks default to 5 s whatever bunfig's timeout says; starting PostgreSQL on a busy machine takes longer. */
const HOOK_TIMEOUT_MS = 60_000;

const ADMIN: Identity = { accountId: "admin-1", roles: ["customer", "admin"] };
const CUSTOMER: Identity = { accountId: "cust-1", roles: ["customer"] };
const PRODUCT = "id name description price { cents currency } stock inStock category { id name }";
const CREATE_CATEGORY = `mutation($name: String!) { createCategory(name: $name) { id name } }`;
const CREATE_PRODUCT = `mutation($input: CreateProductInput!) { createProduct(input: $input) { ${PRODUCT} } }`;
const UPDATE_PRODUCT = `mutation($id: ID!, $input: UpdateProductInput!) { updateProduct(id: $id, input: $input) { ${PRODUCT} } }`;
const SET_STOCK = `mutation($productId: ID!, $stock: Int!) { setStock(productId: $productId, stock: $stock) { id stock inStock } }`;
const SEARCH = `query($q: String!) { products(search: $q, first: 50) { totalCount edges { node { id name } } } }`;

interface Product {
  id: string;
  name: string;
  description: string;
  price: { cents: number; currency: string };
  stock: number;
  inStock: boolean;
  category: { id: string; name: string };
}

for (const db of DATABASES)
  describe(`catalog admin [${db}]`, () => {
    let h: ModuleHarness;
    let seq = 0;
    const unique = (word: string): string => `${word}${db}${++seq}`;
    const productEvents: ProductChangedEvent[] = [];
    const stockEvents: StockChangedEvent[] = [];

    // null = anonymous (undefined would select the default, ADMIN).
    async function gql<T>(query: string, variables: Record<string, unknown>, identity: Identity | null = ADMIN): Promise<T> {
      const r = await h.query<T>("catalog", query, variables, identity ?? undefined);
      if (r.errors?.length) throw new Error(JSON.stringify(r.errors));
      return r.data as T;
    }
    async function failure(
      query: string,
      variables: Record<string, unknown>,
      identity: Identity | null = ADMIN,
    ): Promise<{ code: unknown; details: Record<string, unknown> }> {
      const r = await h.query("catalog", query, variables, identity ?? undefined);
      expect(r.data ?? null).toBeNull();
      expect(r.errors?.length).toBe(1);
      const ext = (r.errors?.[0]?.extensions ?? {}) as Record<string, unknown>;
      return { code: ext["code"], details: ext };
    }
    const searchIds = async (q: string): Promise<string[]> =>
      (await gql<{ products: { edges: { node: { id: string } }[] } }>(SEARCH, { q }, null)).products.edges.map((e) => e.node.id);
    const newCategory = async (): Promise<{ id: string; name: string }> =>
      (await gql<{ createCategory: { id: string; name: string } }>(CREATE_CATEGORY, { name: unique("Category ") })).createCategory;
    const newProduct = async (categoryId: string, extra: Record<string, unknown> = {}): Promise<Product> =>
      (
        await gql<{ createProduct: Product }>(CREATE_PRODUCT, {
          input: { name: unique("Gadget "), description: "A thing.", priceCents: 1999, categoryId, stock: 5, ...extra },
        })
      ).createProduct;

    beforeAll(async () => {
      h = await startModules([catalogModule], { seed: false }, { database: db });
      h.bus.subscribe(CatalogEvents.productChanged, (m: Msg) => void productEvents.push(m.json<ProductChangedEvent>()));
      h.bus.subscribe(CatalogEvents.stockChanged, (m: Msg) => void stockEvents.push(m.json<StockChangedEvent>()));
    }, HOOK_TIMEOUT_MS);
    afterAll(() => h.stop(), HOOK_TIMEOUT_MS);

    test("createCategory + createProduct: stored, defaults applied, listed and found by search at once", async () => {
      const cat = await newCategory();
      const word = unique("zyxwords");
      const p = await newProduct(cat.id, {
        name: `  Portable ${word} Grinder `,
        description: `Grinds ${unique("kaffeebohnen")} evenly.`,
        currency: null,
      });
      expect(p).toMatchObject({
        name: `Portable ${word} Grinder`,
        price: { cents: 1999, currency: "USD" },
        stock: 5,
        inStock: true,
        category: cat,
      });
      expect(await searchIds(word.slice(0, 6))).toEqual([p.id]);
      expect(await searchIds(`portable ${word}`)).toEqual([p.id]);
      const listed = await gql<{ category: { products: { edges: { node: { id: string } }[] } } }>(
        `query($id: ID!) { category(id: $id) { products { edges { node { id } } } } }`,
        { id: cat.id },
        null,
      );
      expect(listed.category.products.edges.map((e) => e.node.id)).toEqual([p.id]);
      const eur = await newProduct(cat.id, { currency: "EUR", stock: 0 });
      expect(eur).toMatchObject({ price: { cents: 1999, currency: "EUR" }, inStock: false });
    });

    test("updateProduct: renames (search follows), keeps omitted fields, reprices", async () => {
      const cat = await newCategory();
      const before = unique("oldname");
      const after = unique("newname");
      const p = await newProduct(cat.id, { name: `Kettle ${before}` });
      expect(await searchIds(before)).toEqual([p.id]);
      const u = (await gql<{ updateProduct: Product }>(UPDATE_PRODUCT, { id: p.id, input: { name: `Kettle ${after}`, priceCents: 2500 } }))
        .updateProduct;
      expect(u).toMatchObject({
        id: p.id,
        name: `Kettle ${after}`,
        description: p.description,
        price: { cents: 2500, currency: "USD" },
        stock: 5,
      });
      expect(await searchIds(after)).toEqual([p.id]);
      expect(await searchIds(before)).toEqual([]);
      const d = (
        await gql<{ updateProduct: Product }>(UPDATE_PRODUCT, {
          id: p.id,
          input: { description: `Now with ${unique("whistle")}.`, name: null },
        })
      ).updateProduct;
      expect(d.name).toBe(`Kettle ${after}`);
      expect(await searchIds(d.description.split(" ")[2] as string)).toEqual([p.id]);
    });

    test("setStock sets the level; events: product_changed for every change, stock_changed for setStock", async () => {
      const cat = await newCategory();
      productEvents.length = 0;
      stockEvents.length = 0;
      const p = await newProduct(cat.id);
      await gql(UPDATE_PRODUCT, { id: p.id, input: { priceCents: 1 } });
      const s = (await gql<{ setStock: { id: string; stock: number; inStock: boolean } }>(SET_STOCK, { productId: p.id, stock: 0 }))
        .setStock;
      expect(s).toEqual({ id: p.id, stock: 0, inStock: false });
      const again = (await gql<{ setStock: { stock: number } }>(SET_STOCK, { productId: p.id, stock: 42 })).setStock;
      expect(again.stock).toBe(42);
      // Publishing is awaited by the mutation, so the events are there when it has answered.
      expect(productEvents.map((e) => [e.productId, e.change])).toEqual([
        [p.id, "created"],
        [p.id, "updated"],
        [p.id, "stock"],
        [p.id, "stock"],
      ]);
      for (const e of productEvents) {
        expect(e.eventId).toMatch(/^[0-9A-Za-z]{27}$/);
        expect(Number.isNaN(Date.parse(e.occurredAt))).toBe(false);
      }
      expect(new Set(productEvents.map((e) => e.eventId)).size).toBe(4);
      expect(stockEvents.map((e) => [e.productId, e.stock])).toEqual([
        [p.id, 0],
        [p.id, 42],
      ]);
    });

    describe("errors", () => {
      let cat: { id: string; name: string };
      let p: Product;
      beforeAll(async () => {
        cat = await newCategory();
        p = await newProduct(cat.id);
      }, HOOK_TIMEOUT_MS);

      test("the module checks the role itself: anonymous UNAUTHENTICATED, customer FORBIDDEN, nothing written", async () => {
        const name = unique("Nope ");
        expect((await failure(CREATE_CATEGORY, { name }, null)).code).toBe("UNAUTHENTICATED");
        expect((await failure(CREATE_CATEGORY, { name }, CUSTOMER)).code).toBe("FORBIDDEN");
        const input = { name, description: "x", priceCents: 1, categoryId: cat.id, stock: 1 };
        expect((await failure(CREATE_PRODUCT, { input }, CUSTOMER)).code).toBe("FORBIDDEN");
        expect((await failure(UPDATE_PRODUCT, { id: p.id, input: { name } }, CUSTOMER)).code).toBe("FORBIDDEN");
        expect((await failure(SET_STOCK, { productId: p.id, stock: 0 }, CUSTOMER)).code).toBe("FORBIDDEN");
        const cats = await gql<{ categories: { name: string }[] }>("{ categories { name } }", {}, null);
        expect(cats.categories.map((c) => c.name)).not.toContain(name);
        expect(await searchIds(name.trim())).toEqual([]);
        const still = await gql<{ product: { name: string; stock: number } }>(
          `query($id: ID!) { product(id: $id) { name stock } }`,
          { id: p.id },
          null,
        );
        expect(still.product).toEqual({ name: p.name, stock: p.stock });
      });

      test("BAD_USER_INPUT names the field", async () => {
        const base = { name: "Ok", description: "Ok", priceCents: 100, categoryId: cat.id, stock: 1 };
        const cases: [Record<string, unknown>, string][] = [
          [{ name: "   " }, "name"],
          [{ name: "x".repeat(201) }, "name"],
          [{ description: "d".repeat(2001) }, "description"],
          [{ priceCents: -1 }, "priceCents"],
          [{ priceCents: 100_000_001 }, "priceCents"],
          [{ currency: "usd" }, "currency"],
          [{ currency: "EURO" }, "currency"],
          [{ stock: -1 }, "stock"],
          [{ categoryId: "" }, "categoryId"],
        ];
        for (const [patch, field] of cases) {
          const f = await failure(CREATE_PRODUCT, { input: { ...base, ...patch } });
          expect([f.code, f.details["field"]]).toEqual(["BAD_USER_INPUT", field]);
        }
        expect((await failure(UPDATE_PRODUCT, { id: p.id, input: {} })).code).toBe("BAD_USER_INPUT");
        expect((await failure(UPDATE_PRODUCT, { id: p.id, input: { priceCents: -5 } })).details["field"]).toBe("priceCents");
        expect((await failure(SET_STOCK, { productId: p.id, stock: -1 })).details["field"]).toBe("stock");
        expect((await failure(CREATE_CATEGORY, { name: " " })).details["field"]).toBe("name");
      });

      test("unknown ids are NOT_FOUND; a taken category name is CONFLICT", async () => {
        const missing = "2ZZZZZZZZZZZZZZZZZZZZZZZZZZ";
        const created = await failure(CREATE_PRODUCT, {
          input: { name: "Orphan", description: "", priceCents: 1, categoryId: missing, stock: 1 },
        });
        expect([created.code, created.details["categoryId"]]).toEqual(["NOT_FOUND", missing]);
        expect((await failure(UPDATE_PRODUCT, { id: missing, input: { name: "x" } })).code).toBe("NOT_FOUND");
        expect((await failure(SET_STOCK, { productId: missing, stock: 1 })).code).toBe("NOT_FOUND");
        expect((await failure(CREATE_CATEGORY, { name: cat.name })).code).toBe("CONFLICT");
      });
    });
  });
