import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DatabaseConfig } from "../../src/kernel/module.ts";
import { client, expectCode } from "../helpers/client.ts";
import { openProbe, type DbProbe } from "../helpers/databases.ts";
import { selectedTopologies, TOPOLOGIES, type Topology } from "../helpers/topology.ts";
import type { SplitTopology } from "../../scripts/split-topology.ts";
import { allProducts, CREATE_ORDER, newAccount, ORDER_WITH_PAYMENT, PAY_ORDER, stockOf, type ProductNode } from "./flows.ts";
import { eventually } from "../helpers/eventually.ts";

/** Provider timeout in the test env: tok_timeout fails after this, ms. */
const PROVIDER_TIMEOUT_MS = 400;
/** Unpaid orders are cancelled after this, s. */
const PAYMENT_TIMEOUT_S = 3;

interface OrderView {
  id: string;
  status: string;
  total: { cents: number };
  payment: { id: string; status: string; amount: { cents: number; currency: string }; providerReference: string | null } | null;
}

for (const name of selectedTopologies()) {
  describe(`payOrder end to end [${name}]`, () => {
    let t: Topology;
    let url: string;
    let catalogDb: DbProbe;
    let paymentDb: DbProbe;
    let dataDir: string | undefined;
    let products: ProductNode[];
    let next = 0;

    beforeAll(async () => {
      const start = TOPOLOGIES[name];
      if (!start) throw new Error(`unknown topology ${name}`);
      // The monolith's DATA_DIR is ours, so the test can read the module databases.
      dataDir = name === "monolith" ? mkdtempSync(join(tmpdir(), "switchyard-pay-")) : undefined;
      t = await start({
        env: {
          PAYMENT_PROVIDER_TIMEOUT_MS: String(PROVIDER_TIMEOUT_MS),
          PAYMENT_PROVIDER_LATENCY_MS: "5",
          ORDER_PAYMENT_TIMEOUT_S: String(PAYMENT_TIMEOUT_S),
          ...(dataDir ? { DATA_DIR: dataDir } : {}),
        },
      });
      url = t.graphqlUrl;
      const db = (module: string): DatabaseConfig => {
        if (dataDir) return { kind: "sqlite", path: join(dataDir, `${module}.sqlite`) };
        const split = (t as Topology & { split: SplitTopology }).split;
        return { kind: "postgres", url: split.sharedEnv[`${module.toUpperCase()}_DATABASE_URL`] as string, poolMax: 2 };
      };
      catalogDb = openProbe(db("catalog"));
      paymentDb = openProbe(db("payment"));
      products = (await allProducts(url)).filter((p) => p.stock >= 20 && !p.name.startsWith("Limited Edition"));
    }, 120_000);
    afterAll(async () => {
      await catalogDb?.close();
      await paymentDb?.close();
      await t?.stop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    }, 60_000);

    /** A fresh account with a new PENDING order of 2 units of an unused product. */
    const pendingOrder = async () => {
      const product = products[next++ % products.length] as ProductNode;
      const acc = await newAccount(url, "Payer");
      const before = await stockOf(url, product.id);
      const r = await client(url, acc.token).request<{ createOrder: { id: string; status: string; total: { cents: number } } }>(
        CREATE_ORDER,
        {
          input: { items: [{ productId: product.id, quantity: 2 }] },
        },
      );
      expect(r.createOrder.status).toBe("PENDING");
      // Reads go through the response cache, which catalog.stock_changed refreshes on every gateway
      // (in split mode that event may land just after createOrder's reply).
      await eventually("(await stockOf(url, product.id)) === before - 2", async () => (await stockOf(url, product.id)) === before - 2, {
        timeoutMs: 10_000,
      });
      return { acc, product, before, order: r.createOrder };
    };
    const view = async (token: string, id: string) =>
      (await client(url, token).request<{ order: OrderView }>(ORDER_WITH_PAYMENT, { id })).order;
    const reservation = async (orderId: string) =>
      (await catalogDb.get<{ status: string }>("SELECT status FROM reservations WHERE id = ?", orderId))?.status;
    const captures = async (orderId: string) =>
      Number(
        (
          await paymentDb.get<{ n: number }>(
            "SELECT count(*) AS n FROM payments WHERE order_id = ? AND status IN ('CAPTURED', 'REFUNDED')",
            orderId,
          )
        )?.n ?? 0,
      );

    test("tok_visa → PAID, Order.payment CAPTURED, stock committed; paying again charges nothing more", async () => {
      const { acc, product, before, order } = await pendingOrder();
      const paid = await client(url, acc.token).request<{ payOrder: { id: string; status: string } }>(PAY_ORDER, {
        orderId: order.id,
        token: "tok_visa",
      });
      expect(paid.payOrder).toEqual({ id: order.id, status: "PAID" });
      const v = await view(acc.token, order.id);
      expect(v.status).toBe("PAID");
      expect(v.payment?.status).toBe("CAPTURED");
      expect(v.payment?.amount).toEqual({ cents: order.total.cents, currency: "USD" });
      expect(v.payment?.providerReference).toStartWith("pi_");
      // The catalog commits the reservation when it hears order.status_changed PAID.
      await eventually('(await reservation(order.id)) === "committed"', async () => (await reservation(order.id)) === "committed", {
        timeoutMs: 10_000,
      });
      expect(await stockOf(url, product.id)).toBe(before - 2);

      const again = await client(url, acc.token).request<{ payOrder: { status: string } }>(PAY_ORDER, {
        orderId: order.id,
        token: "tok_visa",
      });
      expect(again.payOrder.status).toBe("PAID");
      const [a, b] = await Promise.all([
        client(url, acc.token).request<{ payOrder: { status: string } }>(PAY_ORDER, { orderId: order.id, token: "tok_visa" }),
        client(url, acc.token).request<{ payOrder: { status: string } }>(PAY_ORDER, { orderId: order.id, token: "tok_visa" }),
      ]);
      expect([a.payOrder.status, b.payOrder.status]).toEqual(["PAID", "PAID"]);
      expect(await captures(order.id)).toBe(1);
      expect((await view(acc.token, order.id)).payment?.id).toBe(v.payment?.id);
    });

    test("concurrent first payments of one order capture once", async () => {
      const { acc, order } = await pendingOrder();
      const results = await Promise.allSettled(
        Array.from({ length: 4 }, () =>
          client(url, acc.token).request<{ payOrder: { status: string } }>(PAY_ORDER, { orderId: order.id, token: "tok_visa" }),
        ),
      );
      expect(results.filter((r) => r.status === "fulfilled").length).toBeGreaterThanOrEqual(1);
      await eventually(
        '(await view(acc.token, order.id)).status === "PAID"',
        async () => (await view(acc.token, order.id)).status === "PAID",
        { timeoutMs: 10_000 },
      );
      expect(await captures(order.id)).toBe(1);
    });

    test("tok_chargeDeclined → PAYMENT_DECLINED, order PAYMENT_FAILED, stock released", async () => {
      const { acc, product, before, order } = await pendingOrder();
      await expectCode(client(url, acc.token).request(PAY_ORDER, { orderId: order.id, token: "tok_chargeDeclined" }), "PAYMENT_DECLINED");
      const v = await view(acc.token, order.id);
      expect(v.status).toBe("PAYMENT_FAILED");
      expect(v.payment?.status).toBe("DECLINED");
      expect(await stockOf(url, product.id)).toBe(before);
      expect(await reservation(order.id)).toBe("released");
      // The outcome is replayed, not re-run.
      await expectCode(client(url, acc.token).request(PAY_ORDER, { orderId: order.id, token: "tok_visa" }), "PAYMENT_DECLINED");
      expect(await captures(order.id)).toBe(0);
    });

    test("tok_processingError → capture fails, authorization voided, PAYMENT_FAILED, stock released", async () => {
      const { acc, product, before, order } = await pendingOrder();
      await expectCode(client(url, acc.token).request(PAY_ORDER, { orderId: order.id, token: "tok_processingError" }), "PAYMENT_FAILED");
      const v = await view(acc.token, order.id);
      expect(v.status).toBe("PAYMENT_FAILED");
      expect(v.payment?.status).toBe("VOIDED");
      expect(await stockOf(url, product.id)).toBe(before);
      expect(await captures(order.id)).toBe(0);
    });

    test("tok_timeout → PAYMENT_FAILED after the provider timeout, stock released", async () => {
      const { acc, product, before, order } = await pendingOrder();
      const errors = await expectCode(
        client(url, acc.token).request(PAY_ORDER, { orderId: order.id, token: "tok_timeout" }),
        "PAYMENT_FAILED",
      );
      expect(errors[0]?.message).toContain("did not answer");
      const v = await view(acc.token, order.id);
      expect(v.status).toBe("PAYMENT_FAILED");
      expect(v.payment?.status).toBe("VOIDED");
      expect(await stockOf(url, product.id)).toBe(before);
    });

    test("another account cannot pay (or see the payment of) my order", async () => {
      const { order } = await pendingOrder();
      const other = await newAccount(url, "Mallory");
      await expectCode(client(url, other.token).request(PAY_ORDER, { orderId: order.id, token: "tok_visa" }), "NOT_FOUND");
      await expectCode(client(url).request(PAY_ORDER, { orderId: order.id, token: "tok_visa" }), "UNAUTHENTICATED");
    });

    test("an unpaid order is cancelled after ORDER_PAYMENT_TIMEOUT_S and its stock released", async () => {
      const { acc, product, before, order } = await pendingOrder();
      await eventually(
        '(await view(acc.token, order.id)).status === "CANCELLED"',
        async () => (await view(acc.token, order.id)).status === "CANCELLED",
        { timeoutMs: PAYMENT_TIMEOUT_S * 1000 + 10_000 },
      );
      await eventually("(await stockOf(url, product.id)) === before", async () => (await stockOf(url, product.id)) === before, {
        timeoutMs: 10_000,
      });
      expect(await reservation(order.id)).toBe("released");
      await expectCode(client(url, acc.token).request(PAY_ORDER, { orderId: order.id, token: "tok_visa" }), "INVALID_STATE");
      expect((await view(acc.token, order.id)).payment).toBeNull();
    }, 30_000);
  });
}
