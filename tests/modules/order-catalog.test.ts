import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import type { Identity } from "../../src/kernel/identity.ts";
import { newId } from "../../src/kernel/ids.ts";
import { catalogModule } from "../../src/modules/catalog/module.ts";
import { createOrderModule, openOrderStore } from "../../src/modules/order/module.ts";
import type { OrderStore } from "../../src/modules/order/storage/types.ts";
import { DATABASES, openProbe, usePostgres, type DbProbe } from "../helpers/databases.ts";
import { startModules, type ModuleHarness } from "../helpers/modules.ts";

/**
 * The order module with the real catalog module in one kernel, talking over the memory bus:
 * the reservation contract from both sides (the fake-catalog tests in order.test.ts cover
 * the order side's edge cases).
 */

interface P {
  id: string;
  name: string;
  stock: number;
  price: { cents: number; currency: string };
}

const CREATE = `mutation C($input: CreateOrderInput!) { createOrder(input: $input) { id status total { cents currency } items { product { id } quantity unitPrice { cents } } } }`;
const ACCOUNT_ORDERS = `query E($r: [_Any!]!) { _entities(representations: $r) { ... on Account { orders { id } } } }`;

usePostgres();

for (const db of DATABASES)
  describe(`order with the real catalog [${db}]`, () => {
    let h: ModuleHarness;
    let catalogDb: DbProbe;
    let products: P[];
    let failWrites = false;
    const user = (): Identity => ({ accountId: newId(), roles: ["customer"] });

    function failingStore(inner: OrderStore): OrderStore {
      return {
        // The outbox passes through: events written with a change are relayed as from the real store.
        ...(inner.outbox ? { outbox: inner.outbox } : {}),
        create: (o, events) => (failWrites ? Promise.reject(new Error("disk I/O error")) : inner.create(o, events)),
        byId: (id) => inner.byId(id),
        byAccount: (id) => inner.byAccount(id),
        transition: (id, from, to, opts) => inner.transition(id, from, to, opts),
        close: () => inner.close(),
      };
    }

    async function stockOf(id: string): Promise<number> {
      const r = await h.query<{ product: { stock: number } }>("catalog", "query S($id: ID!) { product(id: $id) { stock } }", { id });
      return r.data?.product.stock ?? -1;
    }
    const reservationStatus = async (id: string): Promise<string | undefined> =>
      (await catalogDb.get<{ status: string }>("SELECT status FROM reservations WHERE id = ?", id))?.status;
    async function ordersOf(who: Identity): Promise<string[]> {
      const r = await h.query<{ _entities: { orders: { id: string }[] }[] }>(
        "order",
        ACCOUNT_ORDERS,
        { r: [{ __typename: "Account", id: who.accountId }] },
        who,
      );
      return r.data?._entities[0]?.orders.map((o) => o.id) ?? [];
    }
    /** Two in-stock products not yet used by another test (each test moves stock). */
    let next = 0;
    const fresh = (): P => {
      const p = products.filter((x) => x.stock >= 5 && !x.name.startsWith("Limited Edition"))[next++];
      if (!p) throw new Error("seed catalog ran out of products with stock >= 5");
      return p;
    };

    beforeAll(async () => {
      h = await startModules(
        [createOrderModule({ storeFactory: async (ctx) => failingStore(await openOrderStore(ctx)) }), catalogModule],
        // OUT_OF_STOCK below orders stock + 1 units of a product (more than ORDER_MAX_LINE_QUANTITY's default).
        { seed: true, orderMaxLineQuantity: 1_000_000 },
        { database: db },
      );
      catalogDb = openProbe(h.database("catalog"));
      const r = await h.query<{ products: { edges: { node: P }[] } }>(
        "catalog",
        "{ products(first: 100) { edges { node { id name stock price { cents currency } } } } }",
      );
      products = (r.data?.products.edges ?? []).map((e) => e.node);
      expect(products.length).toBeGreaterThan(10);
    });
    afterAll(async () => {
      await catalogDb.close();
      await h.stop();
    });
    beforeEach(() => {
      failWrites = false;
    });

    test("createOrder reserves in the catalog at its prices; the reservation stays held while the order is PENDING", async () => {
      const [a, b] = [fresh(), fresh()];
      const who = user();
      const r = await h.query<{
        createOrder: {
          id: string;
          status: string;
          total: { cents: number; currency: string };
          items: { product: { id: string }; quantity: number; unitPrice: { cents: number } }[];
        };
      }>(
        "order",
        CREATE,
        {
          input: {
            items: [
              { productId: a.id, quantity: 2 },
              { productId: b.id, quantity: 1 },
            ],
          },
        },
        who,
      );
      expect(r.errors).toBeUndefined();
      const o = r.data?.createOrder;
      expect(o?.status).toBe("PENDING");
      expect(o?.total).toEqual({ cents: 2 * a.price.cents + b.price.cents, currency: a.price.currency });
      expect(o?.items).toEqual([
        { product: { id: a.id }, quantity: 2, unitPrice: { cents: a.price.cents } },
        { product: { id: b.id }, quantity: 1, unitPrice: { cents: b.price.cents } },
      ]);
      expect(await stockOf(a.id)).toBe(a.stock - 2);
      expect(await stockOf(b.id)).toBe(b.stock - 1);
      // Committed only when the order is paid (see order-transitions.test.ts).
      expect(await reservationStatus(o?.id ?? "")).toBe("held");
      expect(await ordersOf(who)).toEqual([o?.id ?? ""]);
    });

    test("OUT_OF_STOCK from the catalog reaches the client; no stock moves, no order", async () => {
      const [a, b] = [fresh(), fresh()];
      const who = user();
      const r = await h.query(
        "order",
        CREATE,
        {
          input: {
            items: [
              { productId: a.id, quantity: 1 },
              { productId: b.id, quantity: b.stock + 1 },
            ],
          },
        },
        who,
      );
      expect(r.errors?.map((e) => e.extensions?.["code"])).toEqual(["OUT_OF_STOCK"]);
      expect(r.errors?.[0]?.extensions).toMatchObject({ productId: b.id, requested: b.stock + 1, available: b.stock });
      expect(await stockOf(a.id)).toBe(a.stock);
      expect(await stockOf(b.id)).toBe(b.stock);
      expect(await ordersOf(who)).toEqual([]);
    });

    test("NOT_FOUND from the catalog reaches the client", async () => {
      const a = fresh();
      const r = await h.query(
        "order",
        CREATE,
        {
          input: {
            items: [
              { productId: a.id, quantity: 1 },
              { productId: "2ZZZZZZZZZZZZZZZZZZZZZZZZZZ", quantity: 1 },
            ],
          },
        },
        user(),
      );
      expect(r.errors?.map((e) => e.extensions?.["code"])).toEqual(["NOT_FOUND"]);
      expect(await stockOf(a.id)).toBe(a.stock);
    });

    test("a failed order write releases the real reservation: stock is back", async () => {
      const a = fresh();
      const who = user();
      failWrites = true;
      const r = await h.query("order", CREATE, { input: { items: [{ productId: a.id, quantity: 3 }] } }, who);
      expect(r.errors?.map((e) => e.extensions?.["code"])).toEqual(["INTERNAL_SERVER_ERROR"]);
      expect(await stockOf(a.id)).toBe(a.stock);
      const released = (await catalogDb.get<{ n: number }>("SELECT count(*) AS n FROM reservations WHERE status = 'released'"))?.n;
      expect(released).toBe(1);
      failWrites = false;
      expect(await ordersOf(who)).toEqual([]);
    });

    test("15 concurrent orders for the limited mug (stock 10) sell exactly 10", async () => {
      const mug = products.find((p) => p.name === "Limited Edition Enamel Camp Mug");
      if (!mug) throw new Error("seed product missing");
      expect(mug.stock).toBe(10);
      const who = user();
      const results = await Promise.all(
        Array.from({ length: 15 }, () => h.query("order", CREATE, { input: { items: [{ productId: mug.id, quantity: 1 }] } }, who)),
      );
      expect(results.filter((r) => r.data && !r.errors).length).toBe(10);
      expect(results.flatMap((r) => (r.errors ?? []).map((e) => e.extensions?.["code"]))).toEqual(Array(5).fill("OUT_OF_STOCK"));
      expect(await stockOf(mug.id)).toBe(0);
      expect((await ordersOf(who)).length).toBe(10);
    });
  });
