import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Identity } from "../../src/kernel/identity.ts";
import { newId } from "../../src/kernel/ids.ts";
import { loadConfig, type AppConfig as Config } from "../../src/config.ts";
import { DEFAULT_ORDER_LIMITS, orderLimitsOf } from "../../src/modules/order/limits.ts";
import { catalogModule } from "../../src/modules/catalog/module.ts";
import { createOrderModule } from "../../src/modules/order/module.ts";
import { createPaymentModule } from "../../src/modules/payment/module.ts";
import { DATABASES, openProbe, usePostgres, type DbProbe } from "../helpers/databases.ts";
import { startModules, type ModuleHarness } from "../helpers/modules.ts";
import { eventually } from "../helpers/eventually.ts";
import { MODULES } from "../../src/module-list.ts";

/**
 * Abuse limits and money bounds of createOrder, and free (0.00) orders, with the real catalog,
 * payment and order modules in one kernel on SQLite and PostgreSQL: every refusal is
 * LIMIT_EXCEEDED with its limitName and limit, and leaves no order, no intent, no outbox event,
 * no catalog reservation and the stock unchanged.
 */

usePostgres();

const ADMIN: Identity = { accountId: "admin-1", roles: ["customer", "admin"] };
const CREATE = `mutation C($input: CreateOrderInput!) { createOrder(input: $input) { id status total { cents amount currency } items { quantity unitPrice { cents } lineTotal { cents amount } } } }`;
const PAY = `mutation P($id: ID!, $token: String!) { payOrder(orderId: $id, payment: { token: $token }) { id status total { cents } } }`;
const CANCEL = `mutation X($id: ID!) { cancelOrder(id: $id) { id status } }`;
const ACCOUNT_ORDERS = `query E($r: [_Any!]!) { _entities(representations: $r) { ... on Account { orders { id status total { cents amount } items { lineTotal { cents } } } } } }`;
const PAYMENT_OF = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { payment { status amount { cents amount } providerReference chargeRequired } } } }`;
const CREATE_CATEGORY = `mutation($name: String!) { createCategory(name: $name) { id } }`;
const CREATE_PRODUCT = `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`;
const STOCK = `query($id: ID!) { product(id: $id) { stock } }`;

type Line = { productId: string; quantity: number };
interface OrderOut {
  id: string;
  status: string;
  total: { cents: number; amount: string; currency: string };
  items: { quantity: number; unitPrice: { cents: number }; lineTotal: { cents: number; amount: string } }[];
}

const customer = (): Identity => ({ accountId: newId(), roles: ["customer"] });

/** A harness with the three modules plus helpers to create products and check that nothing was written. */
function suite(db: (typeof DATABASES)[number], overrides: Partial<Config>) {
  const s = {
    h: undefined as unknown as ModuleHarness,
    orderDb: undefined as unknown as DbProbe,
    catalogDb: undefined as unknown as DbProbe,
    categoryId: "",
    seq: 0,
  };
  beforeAll(async () => {
    s.h = await startModules([catalogModule, createPaymentModule(), createOrderModule()], { seed: false, ...overrides }, { database: db });
    s.orderDb = openProbe(s.h.database("order"));
    s.catalogDb = openProbe(s.h.database("catalog"));
    const r = await s.h.query<{ createCategory: { id: string } }>("catalog", CREATE_CATEGORY, { name: `Limits ${db}` }, ADMIN);
    s.categoryId = r.data?.createCategory.id as string;
  }, 60_000);
  afterAll(async () => {
    await s.orderDb?.close();
    await s.catalogDb?.close();
    await s.h?.stop();
  }, 30_000);

  const product = async (priceCents: number, stock = 1000): Promise<string> => {
    const r = await s.h.query<{ createProduct: { id: string } }>(
      "catalog",
      CREATE_PRODUCT,
      { input: { name: `Item ${++s.seq}`, description: "", priceCents, categoryId: s.categoryId, stock } },
      ADMIN,
    );
    expect(r.errors).toBeUndefined();
    return r.data?.createProduct.id as string;
  };
  const stock = async (id: string): Promise<number> =>
    (await s.h.query<{ product: { stock: number } }>("catalog", STOCK, { id })).data?.product.stock as number;
  const createOrder = (items: Line[], who: Identity) => s.h.query<{ createOrder: OrderOut }>("order", CREATE, { input: { items } }, who);
  const n = async (probe: DbProbe, sql: string, ...params: string[]): Promise<number> =>
    Number((await probe.get<{ n: number | string }>(sql, ...params))?.n ?? 0);
  /** What one more order would leave behind: orders, intents, order.created events, catalog reservations. */
  const footprint = async (accountId: string) => ({
    orders: await n(s.orderDb, "SELECT count(*) AS n FROM orders WHERE account_id = ?", accountId),
    intents: await n(s.orderDb, "SELECT count(*) AS n FROM reservation_intents"),
    createdEvents: await n(s.orderDb, "SELECT count(*) AS n FROM outbox WHERE subject = 'order.created'"),
    reservations: await n(s.catalogDb, "SELECT count(*) AS n FROM reservations"),
  });
  /** Runs a createOrder that must be refused with LIMIT_EXCEEDED, and checks that it wrote and reserved nothing. */
  const refused = async (items: Line[], who: Identity, limitName: string, limit: number): Promise<Record<string, unknown>> => {
    const ids = [...new Set(items.map((i) => i.productId))];
    const stockBefore = await Promise.all(ids.map(stock));
    const before = await footprint(who.accountId);
    const r = await createOrder(items, who);
    expect(r.data ?? null).toBeNull();
    const ext = (r.errors?.[0]?.extensions ?? {}) as Record<string, unknown>;
    expect(ext).toMatchObject({ code: "LIMIT_EXCEEDED", limitName, limit });
    expect(await footprint(who.accountId)).toEqual(before);
    expect(await Promise.all(ids.map(stock))).toEqual(stockBefore);
    return ext;
  };
  return { s, product, stock, createOrder, refused, footprint };
}

test("the documented defaults: ORDER_MAX_LINE_QUANTITY 10, ORDER_MAX_LINES 50, ORDER_MAX_PENDING 3, ORDER_MAX_TOTAL_CENTS 100000000, ORDER_PAYMENT_TIMEOUT_S 600", () => {
  const r = loadConfig([], {}, { parts: [...Object.keys(MODULES), "gateway"] });
  if (r.help) throw new Error("unexpected --help");
  expect(orderLimitsOf(r.config)).toEqual({ maxLineQuantity: 10, maxLines: 50, maxPending: 3, maxTotalCents: 100_000_000 });
  expect(DEFAULT_ORDER_LIMITS).toEqual(orderLimitsOf(r.config));
  expect(r.config.orderPaymentTimeoutS).toBe(600);
  // The total bound cannot be configured past what Money.cents (GraphQL Int) shows.
  expect(() => loadConfig([], { ORDER_MAX_TOTAL_CENTS: "2147483648" }, { parts: ["order"] })).toThrow(/ORDER_MAX_TOTAL_CENTS/);
});

for (const db of DATABASES) {
  describe(`order abuse limits, defaults [${db}]`, () => {
    // The documented defaults (testConfig relaxes ORDER_MAX_PENDING for other suites).
    const t = suite(db, { orderMaxLineQuantity: 10, orderMaxLines: 50, orderMaxPending: 3, orderMaxTotalCents: 100_000_000 });

    test("ORDER_MAX_LINE_QUANTITY: 11 units of one product are refused before anything is reserved; 10 are fine", async () => {
      const p = await t.product(500);
      const who = customer();
      const ext = await t.refused([{ productId: p, quantity: 11 }], who, "ORDER_MAX_LINE_QUANTITY", 10);
      expect(ext).toMatchObject({ productId: p, quantity: 11 });
      const ok = await t.createOrder([{ productId: p, quantity: 10 }], who);
      expect(ok.errors).toBeUndefined();
      expect(ok.data?.createOrder.total.cents).toBe(5000);
    });

    test("ORDER_MAX_LINES: 51 lines are refused (nothing reserved for the valid ones)", async () => {
      const products: string[] = [];
      for (let i = 0; i < 51; i++) products.push(await t.product(100));
      const items = products.map((productId) => ({ productId, quantity: 1 }));
      const ext = await t.refused(items, customer(), "ORDER_MAX_LINES", 50);
      expect(ext["count"]).toBe(51);
    });

    test("ORDER_MAX_TOTAL_CENTS (default 1,000,000.00): 2 × 99,999,999 is refused by the catalog in its transaction", async () => {
      const p = await t.product(99_999_999);
      const who = customer();
      const ext = await t.refused([{ productId: p, quantity: 2 }], who, "ORDER_MAX_TOTAL_CENTS", 100_000_000);
      expect(ext["totalCents"]).toBe(199_999_998);
      const one = await t.createOrder([{ productId: p, quantity: 1 }], who);
      expect(one.errors).toBeUndefined();
      expect(one.data?.createOrder.total).toEqual({ cents: 99_999_999, amount: "999999.99", currency: "USD" });
    });

    test("the issue's reproduction (99,999,999 cents × 100): refused (units per line), nothing written", async () => {
      const p = await t.product(99_999_999);
      await t.refused([{ productId: p, quantity: 100 }], customer(), "ORDER_MAX_LINE_QUANTITY", 10);
    });

    test("ORDER_MAX_PENDING: a 4th unpaid order is refused; paying or cancelling one makes room", async () => {
      const p = await t.product(250);
      const who = customer();
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await t.createOrder([{ productId: p, quantity: 1 }], who);
        expect(r.errors).toBeUndefined();
        ids.push(r.data?.createOrder.id as string);
      }
      const ext = await t.refused([{ productId: p, quantity: 1 }], who, "ORDER_MAX_PENDING", 3);
      expect(ext["pending"]).toBe(3);
      // Another account is not affected.
      expect((await t.createOrder([{ productId: p, quantity: 1 }], customer())).errors).toBeUndefined();
      // Paid: no longer unpaid.
      const paid = await t.s.h.query<{ payOrder: { status: string } }>("order", PAY, { id: ids[0], token: "tok_visa" }, who);
      expect(paid.data?.payOrder.status).toBe("PAID");
      const fourth = await t.createOrder([{ productId: p, quantity: 1 }], who);
      expect(fourth.errors).toBeUndefined();
      await t.refused([{ productId: p, quantity: 1 }], who, "ORDER_MAX_PENDING", 3);
      // Cancelled: room again.
      expect((await t.s.h.query<{ cancelOrder: { status: string } }>("order", CANCEL, { id: ids[1] }, who)).data?.cancelOrder.status).toBe(
        "CANCELLED",
      );
      expect((await t.createOrder([{ productId: p, quantity: 1 }], who)).errors).toBeUndefined();
    });

    test("ORDER_MAX_PENDING holds under 20 concurrent createOrder calls of one account: exactly 3 orders, 3 units reserved", async () => {
      const p = await t.product(100, 50);
      const who = customer();
      const before = await t.footprint(who.accountId);
      const results = await Promise.all(Array.from({ length: 20 }, () => t.createOrder([{ productId: p, quantity: 1 }], who)));
      const ok = results.filter((r) => !r.errors);
      const codes = results.filter((r) => r.errors).map((r) => r.errors?.[0]?.extensions?.["code"]);
      expect(ok.length).toBe(3);
      expect(codes).toEqual(Array.from({ length: 17 }, () => "LIMIT_EXCEEDED"));
      expect(await t.stock(p)).toBe(47);
      const after = await t.footprint(who.accountId);
      expect(after.orders).toBe(3);
      expect(after.intents).toBe(0);
      expect(after.reservations - before.reservations).toBe(3);
    });
  });

  describe(`money bounds at the largest total Money.cents can show [${db}]`, () => {
    const t = suite(db, { orderMaxLineQuantity: 1000, orderMaxTotalCents: 2_147_483_647 });

    test("the issue's reproduction with units per line allowed (99,999,999 × 100): LIMIT_EXCEEDED, no order, no reservation, stock unchanged", async () => {
      const p = await t.product(99_999_999);
      const who = customer();
      const ext = await t.refused([{ productId: p, quantity: 100 }], who, "ORDER_MAX_TOTAL_CENTS", 2_147_483_647);
      expect(ext["totalCents"]).toBe(9_999_999_900);
      // The account still reads fine (it has no order).
      const r = await t.s.h.query<{ _entities: { orders: unknown[] }[] }>(
        "order",
        ACCOUNT_ORDERS,
        { r: [{ __typename: "Account", id: who.accountId }] },
        who,
      );
      expect(r.errors).toBeUndefined();
      expect(r.data?._entities[0]?.orders).toEqual([]);
    });

    test("an order of exactly 2^31 - 1 cents is accepted and reads back everywhere; one cent more is refused", async () => {
      const big = await t.product(100_000_000);
      const rest = await t.product(47_483_647);
      const over = await t.product(47_483_648);
      const who = customer();
      await t.refused(
        [
          { productId: big, quantity: 21 },
          { productId: over, quantity: 1 },
        ],
        who,
        "ORDER_MAX_TOTAL_CENTS",
        2_147_483_647,
      );
      const r = await t.createOrder(
        [
          { productId: big, quantity: 21 },
          { productId: rest, quantity: 1 },
        ],
        who,
      );
      expect(r.errors).toBeUndefined();
      const order = r.data?.createOrder as OrderOut;
      expect(order.total).toEqual({ cents: 2_147_483_647, amount: "21474836.47", currency: "USD" });
      expect(order.items.map((i) => i.lineTotal)).toEqual([
        { cents: 2_100_000_000, amount: "21000000.00" },
        { cents: 47_483_647, amount: "474836.47" },
      ]);
      const read = await t.s.h.query<{ _entities: { orders: { total: { cents: number } }[] }[] }>(
        "order",
        ACCOUNT_ORDERS,
        { r: [{ __typename: "Account", id: who.accountId }] },
        who,
      );
      expect(read.errors).toBeUndefined();
      expect(read.data?._entities[0]?.orders.map((o) => o.total.cents)).toEqual([2_147_483_647]);
      const paid = await t.s.h.query<{ payOrder: { status: string; total: { cents: number } } }>(
        "order",
        PAY,
        { id: order.id, token: "tok_visa" },
        who,
      );
      expect(paid.errors).toBeUndefined();
      expect(paid.data?.payOrder).toMatchObject({ status: "PAID", total: { cents: 2_147_483_647 } });
    });
  });

  describe(`free orders (total 0.00) [${db}]`, () => {
    const t = suite(db, {});

    for (const token of ["tok_visa", "tok_chargeDeclined"]) {
      test(`payOrder (${token}) completes a 0.00 order without calling the provider: PAID, payment CAPTURED 0.00 chargeRequired false, stock committed, one PAID event`, async () => {
        const free = await t.product(0, 5);
        const who = customer();
        const created = await t.createOrder([{ productId: free, quantity: 2 }], who);
        expect(created.errors).toBeUndefined();
        const order = created.data?.createOrder as OrderOut;
        expect(order.total.cents).toBe(0);
        // tok_chargeDeclined would be declined by the provider: PAID proves it was not asked.
        const paid = await t.s.h.query<{ payOrder: { status: string } }>("order", PAY, { id: order.id, token }, who);
        expect(paid.errors).toBeUndefined();
        expect(paid.data?.payOrder.status).toBe("PAID");
        const payment = await t.s.h.query<{ _entities: { payment: unknown }[] }>(
          "payment",
          PAYMENT_OF,
          { r: [{ __typename: "Order", id: order.id }] },
          who,
        );
        expect(payment.data?._entities[0]?.payment).toEqual({
          status: "CAPTURED",
          amount: { cents: 0, amount: "0.00" },
          providerReference: null,
          chargeRequired: false,
        });
        // The catalog commits the reservation on the PAID event: the units stay sold.
        await eventually(
          '(await t.s.catalogDb.get<{ status: string }>("SELECT status FROM reservations WHERE id = ?", order.id))?.status === "committed"',
          async () =>
            (await t.s.catalogDb.get<{ status: string }>("SELECT status FROM reservations WHERE id = ?", order.id))?.status === "committed",
          { timeoutMs: 5000 },
        );
        expect(await t.stock(free)).toBe(3);
        const events = await t.s.orderDb.all<{ payload: unknown }>("SELECT payload FROM outbox WHERE subject = 'order.status_changed'");
        const mine = events
          .map((e) => (typeof e.payload === "string" ? JSON.parse(e.payload) : e.payload) as { orderId: string; status: string })
          .filter((e) => e.orderId === order.id);
        expect(mine.map((e) => e.status)).toEqual(["PAID"]);
        // Paying again returns the PAID order (no second payment).
        const again = await t.s.h.query<{ payOrder: { status: string } }>("order", PAY, { id: order.id, token }, who);
        expect(again.data?.payOrder.status).toBe("PAID");
      });
    }

    test("a paid order is still charged: 0.00 handling does not apply to a 0.01 order with a declined card", async () => {
      const cheap = await t.product(1, 5);
      const who = customer();
      const order = (await t.createOrder([{ productId: cheap, quantity: 1 }], who)).data?.createOrder as OrderOut;
      const r = await t.s.h.query("order", PAY, { id: order.id, token: "tok_chargeDeclined" }, who);
      expect(r.errors?.[0]?.extensions?.["code"]).toBe("PAYMENT_DECLINED");
    });
  });
}
