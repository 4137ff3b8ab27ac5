import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { gql } from "graphql-request";
import { client, expectCode, uniqueEmail } from "../helpers/client.ts";
import { selectedTopologies, TOPOLOGIES, type Topology } from "../helpers/topology.ts";
import {
  allProducts,
  CREATE_ORDER,
  LOGIN,
  MY_ORDERS,
  newAccount,
  orderFlow,
  REGISTER,
  stockOf,
  unauthenticatedOrderIsRefused,
  type ProductNode,
} from "./flows.ts";

for (const name of selectedTopologies()) {
  describe(`end to end [${name}]`, () => {
    let t: Topology;
    let url: string;
    beforeAll(async () => {
      const start = TOPOLOGIES[name];
      if (!start) throw new Error(`unknown topology ${name}`);
      // OUT_OF_STOCK below orders stock + 1 units (more than ORDER_MAX_LINE_QUANTITY's default);
      // the limits themselves are tested in order-limits.e2e.test.ts. GraphiQL is off by default
      // outside NODE_ENV=development; switched on for its test below.
      t = await start({ env: { ORDER_MAX_LINE_QUANTITY: "1000000", GRAPHIQL: "true" } });
      url = t.graphqlUrl;
    });
    afterAll(async () => {
      await t?.stop();
    });

    test("register → login → search → createOrder → read order across modules → me.orders → stock", async () => {
      await orderFlow(url);
    });

    describe("errors carry stable codes and write nothing", () => {
      let acc: Awaited<ReturnType<typeof newAccount>>;
      let a: ProductNode;
      let b: ProductNode;
      const ordersOf = async (token: string) =>
        (await client(url, token).request<{ me: { orders: { id: string }[] } }>(MY_ORDERS)).me.orders.length;

      beforeAll(async () => {
        acc = await newAccount(url, "Grace Hopper");
        const ps = (await allProducts(url)).filter((p) => p.stock >= 2 && !p.name.startsWith("Limited Edition"));
        [a, b] = ps.slice(-2) as [ProductNode, ProductNode];
      });

      test("OUT_OF_STOCK: one line too large → no stock moves for any line, no order", async () => {
        const sa = await stockOf(url, a.id);
        const sb = await stockOf(url, b.id);
        const errors = await expectCode(
          client(url, acc.token).request(CREATE_ORDER, {
            input: {
              items: [
                { productId: a.id, quantity: 1 },
                { productId: b.id, quantity: sb + 1 },
              ],
            },
          }),
          "OUT_OF_STOCK",
        );
        expect(errors[0]?.message).toBeTruthy();
        expect(await stockOf(url, a.id)).toBe(sa);
        expect(await stockOf(url, b.id)).toBe(sb);
        expect(await ordersOf(acc.token)).toBe(0);
      });

      test("NOT_FOUND: unknown product → nothing reserved", async () => {
        const sa = await stockOf(url, a.id);
        await expectCode(
          client(url, acc.token).request(CREATE_ORDER, {
            input: {
              items: [
                { productId: a.id, quantity: 1 },
                { productId: "2ZZZZZZZZZZZZZZZZZZZZZZZZZZ", quantity: 1 },
              ],
            },
          }),
          "NOT_FOUND",
        );
        expect(await stockOf(url, a.id)).toBe(sa);
        expect(await ordersOf(acc.token)).toBe(0);
      });

      test("BAD_USER_INPUT: quantity < 1 and empty order", async () => {
        const sa = await stockOf(url, a.id);
        await expectCode(
          client(url, acc.token).request(CREATE_ORDER, { input: { items: [{ productId: a.id, quantity: 0 }] } }),
          "BAD_USER_INPUT",
        );
        await expectCode(
          client(url, acc.token).request(CREATE_ORDER, { input: { items: [{ productId: a.id, quantity: -3 }] } }),
          "BAD_USER_INPUT",
        );
        await expectCode(client(url, acc.token).request(CREATE_ORDER, { input: { items: [] } }), "BAD_USER_INPUT");
        expect(await stockOf(url, a.id)).toBe(sa);
        expect(await ordersOf(acc.token)).toBe(0);
      });

      test("UNAUTHENTICATED: createOrder and me without a token", async () => {
        await unauthenticatedOrderIsRefused(url);
        await expectCode(client(url).request(gql`{ me { id } }`), "UNAUTHENTICATED");
      });

      test("UNAUTHENTICATED: a forged token is rejected with 401", async () => {
        const forged = acc.token.slice(0, -4) + (acc.token.endsWith("AAAA") ? "BBBB" : "AAAA");
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${forged}` },
          body: JSON.stringify({ query: "{ me { id } }" }),
        });
        expect(res.status).toBe(401);
        const body = (await res.json()) as { errors: { extensions: { code: string } }[] };
        expect(body.errors[0]?.extensions.code).toBe("UNAUTHENTICATED");
      });

      test("EMAIL_TAKEN and INVALID_CREDENTIALS", async () => {
        await expectCode(
          client(url).request(REGISTER, { input: { name: "Dup", email: acc.email, password: "another password" } }),
          "EMAIL_TAKEN",
        );
        await expectCode(client(url).request(LOGIN, { email: acc.email, password: "wrong password" }), "INVALID_CREDENTIALS");
        await expectCode(client(url).request(LOGIN, { email: uniqueEmail("nobody"), password: "whatever123" }), "INVALID_CREDENTIALS");
        await expectCode(
          client(url).request(REGISTER, { input: { name: "X", email: "not-an-email", password: "long enough pw" } }),
          "BAD_USER_INPUT",
        );
      });

      test("another account cannot read my order", async () => {
        const other = await newAccount(url, "Mallory");
        const mine = await client(url, acc.token).request<{ createOrder: { id: string } }>(CREATE_ORDER, {
          input: { items: [{ productId: a.id, quantity: 1 }] },
        });
        const r = await client(url, other.token)
          .request<{ order: unknown }>(gql`query($id: ID!) { order(id: $id) { id } }`, { id: mine.createOrder.id })
          .catch((e: unknown) => e);
        if (r && typeof r === "object" && "order" in r) expect(r.order).toBeNull();
        else await expectCode(Promise.reject(r), "FORBIDDEN");
      });
    });

    test("50 concurrent orders for a product with stock 10 sell exactly 10", async () => {
      const mug = (await allProducts(url)).find((p) => p.name === "Limited Edition Enamel Camp Mug");
      if (!mug) throw new Error("seed product 'Limited Edition Enamel Camp Mug' missing");
      expect(mug.stock).toBe(10);
      const buyers = await Promise.all([0, 1, 2, 3, 4].map((i) => newAccount(url, `Buyer ${i}`)));
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) =>
          client(url, buyers[i % buyers.length]?.token).request<{ createOrder: { id: string } }>(CREATE_ORDER, {
            input: { items: [{ productId: mug.id, quantity: 1 }] },
          }),
        ),
      );
      const ok = results.filter((r) => r.status === "fulfilled");
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(ok.length).toBe(10);
      expect(failed.length).toBe(40);
      for (const f of failed) {
        const codes = ((f.reason as { response?: { errors?: { extensions?: { code?: string } }[] } }).response?.errors ?? []).map(
          (e) => e.extensions?.code,
        );
        expect(codes).toEqual(["OUT_OF_STOCK"]);
      }
      expect(await stockOf(url, mug.id)).toBe(0);
      let orders = 0;
      for (const b of buyers) orders += (await client(url, b.token).request<{ me: { orders: unknown[] } }>(MY_ORDERS)).me.orders.length;
      expect(orders).toBe(10);
    });

    test("health endpoints", async () => {
      expect((await fetch(`${t.baseUrl}/health/live`)).status).toBe(200);
      const ready = await fetch(`${t.baseUrl}/health/ready`);
      expect(ready.status).toBe(200);
      expect(((await ready.json()) as { status: string }).status).toBe("ready");
    });

    test("GraphiQL is served to browsers at /graphql", async () => {
      const res = await fetch(url, { headers: { accept: "text/html" } });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("GraphiQL");
    });
  });
}
