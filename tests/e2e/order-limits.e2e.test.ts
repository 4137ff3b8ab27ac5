import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { gql } from "graphql-request";
import { client, expectCode } from "../helpers/client.ts";
import { selectedTopologies, TOPOLOGIES, type Topology } from "../helpers/topology.ts";
import { CREATE_ORDER, LOGIN, newAccount, PAY_ORDER, stockOf } from "./flows.ts";

/**
 * Findings 4, 5 and 6 of the "safe by default" issue through the gateway, in every topology,
 * with the documented defaults (ORDER_MAX_LINE_QUANTITY 10, ORDER_MAX_LINES 50,
 * ORDER_MAX_PENDING 3, ORDER_MAX_TOTAL_CENTS 100000000):
 * - inventory hoarding: one account cannot reserve more than the limits allow, not even with
 *   concurrent calls, and a refused order reserves nothing;
 * - money that overflowed GraphQL Int: the order of 99,999,999 cents × 100 is refused with
 *   nothing reserved, and the account's orders stay readable;
 * - a 0.00 order is paid without a charge instead of ending PAYMENT_FAILED.
 */

const ADMIN_EMAIL = "limits-admin@switchyard.example";
const ADMIN_PASSWORD = "e2e admin password";
const CREATE_CATEGORY = gql`mutation($name: String!) { createCategory(name: $name) { id } }`;
const CREATE_PRODUCT = gql`mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`;
const MY_ORDER_TOTALS = gql`query { me { id orders { id status total { cents amount } items { lineTotal { cents } } } } }`;
const ORDER_PAYMENT = gql`query($id: ID!) { order(id: $id) { status total { cents } payment { status amount { cents amount } providerReference chargeRequired } } }`;

type Account = Awaited<ReturnType<typeof newAccount>>;
type Line = { productId: string; quantity: number };

for (const name of selectedTopologies()) {
  describe(`order limits, money bounds, free orders end to end [${name}]`, () => {
    let t: Topology;
    let url: string;
    let adminToken: string;
    let categoryId: string;
    let seq = 0;

    beforeAll(async () => {
      const start = TOPOLOGIES[name];
      if (!start) throw new Error(`unknown topology ${name}`);
      // ORDER_MAX_PENDING: the default again (the e2e helpers lift it for the other suites).
      // RESPONSE_CACHE off: stock is read right after each order; with the cache a read could
      // show the level from before a change (invalidation comes by event), hiding a reservation.
      t = await start({ env: { ADMIN_EMAIL, ADMIN_PASSWORD, ORDER_MAX_PENDING: "3", RESPONSE_CACHE: "false" } });
      url = t.graphqlUrl;
      adminToken = (await client(url).request<{ login: { token: string } }>(LOGIN, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).login
        .token;
      categoryId = (await client(url, adminToken).request<{ createCategory: { id: string } }>(CREATE_CATEGORY, { name: `Limits ${name}` }))
        .createCategory.id;
    }, 120_000);
    afterAll(async () => {
      await t?.stop();
    });

    const product = async (priceCents: number, stock = 100): Promise<string> =>
      (
        await client(url, adminToken).request<{ createProduct: { id: string } }>(CREATE_PRODUCT, {
          input: { name: `Limit item ${name} ${++seq}`, description: "", priceCents, categoryId, stock },
        })
      ).createProduct.id;
    const order = (acc: Account, items: Line[]) =>
      client(url, acc.token).request<{
        createOrder: { id: string; status: string; total: { cents: number; amount: string; currency: string } };
      }>(CREATE_ORDER, { input: { items } });
    const myOrders = async (acc: Account) =>
      (
        await client(url, acc.token).request<{
          me: { orders: { id: string; status: string; total: { cents: number; amount: string }; items: unknown[] }[] } | null;
        }>(MY_ORDER_TOTALS)
      ).me?.orders;
    /** createOrder must fail with LIMIT_EXCEEDED of `limitName`, leaving stock and the account's orders as they were. */
    const refused = async (acc: Account, items: Line[], limitName: string, limit: number) => {
      const stock = await Promise.all(items.map((i) => stockOf(url, i.productId)));
      const orders = await myOrders(acc);
      const [err] = await expectCode(order(acc, items), "LIMIT_EXCEEDED");
      expect(err?.extensions).toMatchObject({ limitName, limit });
      expect(err?.message).toBeTruthy();
      expect(await Promise.all(items.map((i) => stockOf(url, i.productId)))).toEqual(stock);
      expect(await myOrders(acc)).toEqual(orders);
    };

    test("hoarding: more units per line than ORDER_MAX_LINE_QUANTITY is refused, nothing reserved", async () => {
      const p = await product(1500, 40);
      const acc = await newAccount(url, "Hoarder");
      await refused(acc, [{ productId: p, quantity: 40 }], "ORDER_MAX_LINE_QUANTITY", 10);
      await refused(acc, [{ productId: p, quantity: 11 }], "ORDER_MAX_LINE_QUANTITY", 10);
      expect((await order(acc, [{ productId: p, quantity: 10 }])).createOrder.status).toBe("PENDING");
      expect(await stockOf(url, p)).toBe(30);
    });

    test("hoarding: an account holds at most 3 unpaid orders, also with 8 concurrent createOrder calls; paying frees a slot", async () => {
      const p = await product(300, 50);
      const acc = await newAccount(url, "Concurrent Hoarder");
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => order(acc, [{ productId: p, quantity: 1 }])));
      const ok = results.filter((r) => r.status === "fulfilled");
      expect(ok.length).toBe(3);
      for (const r of results) {
        if (r.status === "fulfilled") continue;
        const errors = ((r.reason as { response?: { errors?: { extensions?: Record<string, unknown> }[] } }).response?.errors ?? []).map(
          (e) => e.extensions,
        );
        expect(errors).toEqual([expect.objectContaining({ code: "LIMIT_EXCEEDED", limitName: "ORDER_MAX_PENDING", limit: 3 })]);
      }
      expect(await stockOf(url, p)).toBe(47);
      await refused(acc, [{ productId: p, quantity: 1 }], "ORDER_MAX_PENDING", 3);
      const first = (ok[0] as PromiseFulfilledResult<{ createOrder: { id: string } }>).value.createOrder.id;
      expect(
        (await client(url, acc.token).request<{ payOrder: { status: string } }>(PAY_ORDER, { orderId: first, token: "tok_visa" })).payOrder
          .status,
      ).toBe("PAID");
      expect((await order(acc, [{ productId: p, quantity: 1 }])).createOrder.status).toBe("PENDING");
    });

    test("the overflow reproduction (99,999,999 cents × 100) is refused before anything is reserved; the account stays readable", async () => {
      const p = await product(99_999_999, 1000);
      const acc = await newAccount(url, "Big Spender");
      await refused(acc, [{ productId: p, quantity: 100 }], "ORDER_MAX_LINE_QUANTITY", 10);
      // Within the units per line, the total bound (checked by the catalog as it captures prices) refuses.
      await refused(acc, [{ productId: p, quantity: 2 }], "ORDER_MAX_TOTAL_CENTS", 100_000_000);
      expect(await myOrders(acc)).toEqual([]);
      // The largest accepted order reads back everywhere and is paid in full.
      const one = (await order(acc, [{ productId: p, quantity: 1 }])).createOrder;
      expect(one.total).toEqual({ cents: 99_999_999, amount: "999999.99", currency: "USD" });
      const paid = await client(url, acc.token).request<{ payOrder: { status: string } }>(PAY_ORDER, {
        orderId: one.id,
        token: "tok_visa",
      });
      expect(paid.payOrder.status).toBe("PAID");
      expect(await myOrders(acc)).toEqual([
        { id: one.id, status: "PAID", total: { cents: 99_999_999, amount: "999999.99" }, items: [{ lineTotal: { cents: 99_999_999 } }] },
      ]);
      const view = await client(url, acc.token).request<{ order: { payment: { status: string; amount: { cents: number } } } }>(
        ORDER_PAYMENT,
        { id: one.id },
      );
      expect(view.order.payment).toMatchObject({ status: "CAPTURED", amount: { cents: 99_999_999 }, chargeRequired: true });
      expect(await stockOf(url, p)).toBe(999);
    });

    test("a 0.00 order is paid without a charge: PAID, payment CAPTURED 0.00 with chargeRequired false, stock stays sold", async () => {
      const free = await product(0, 10);
      const acc = await newAccount(url, "Free Sample");
      const created = (await order(acc, [{ productId: free, quantity: 2 }])).createOrder;
      expect(created.total).toEqual({ cents: 0, amount: "0.00", currency: "USD" });
      const paid = await client(url, acc.token).request<{ payOrder: { status: string } }>(PAY_ORDER, {
        orderId: created.id,
        token: "tok_visa",
      });
      expect(paid.payOrder.status).toBe("PAID");
      const view = await client(url, acc.token).request<{ order: unknown }>(ORDER_PAYMENT, { id: created.id });
      expect(view.order).toEqual({
        status: "PAID",
        total: { cents: 0 },
        payment: { status: "CAPTURED", amount: { cents: 0, amount: "0.00" }, providerReference: null, chargeRequired: false },
      });
      expect(await stockOf(url, free)).toBe(8);
      // Paying again changes nothing.
      expect(
        (await client(url, acc.token).request<{ payOrder: { status: string } }>(PAY_ORDER, { orderId: created.id, token: "tok_visa" }))
          .payOrder.status,
      ).toBe("PAID");
    });
  });
}
