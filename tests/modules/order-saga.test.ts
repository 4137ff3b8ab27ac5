import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { Identity } from "../../src/kernel/identity.ts";
import { newId } from "../../src/kernel/ids.ts";
import { catalogModule } from "../../src/modules/catalog/module.ts";
import { createOrderModule } from "../../src/modules/order/module.ts";
import type { SagaRecord, SagaStore } from "../../src/modules/order/storage/saga.ts";
import { openOrderDatabase } from "../../src/modules/order/storage/store.ts";
import { PaymentSubjects, type PaymentReply } from "../../src/modules/payment/contract/index.ts";
import { createPaymentModule } from "../../src/modules/payment/module.ts";
import { DATABASES, openProbe, usePostgres, type DbProbe } from "../helpers/databases.ts";
import { startModules, type ModuleHarness } from "../helpers/modules.ts";
import { eventually } from "../helpers/eventually.ts";

/**
 * The checkout saga with the real catalog and payment modules in one kernel: payOrder outcomes,
 * and recovery of sagas a crashed process left half way (written straight into the saga table,
 * lease expired, as a process killed between two steps leaves them).
 */

usePostgres();

const CREATE = `mutation C($input: CreateOrderInput!) { createOrder(input: $input) { id status total { cents currency } } }`;
const PAY = `mutation P($id: ID!, $token: String!) { payOrder(orderId: $id, payment: { token: $token }) { id status } }`;
const ORDER = `query O($id: ID!) { order(id: $id) { id status } }`;
const PRODUCTS = `{ products(first: 5) { edges { node { id stock } } } }`;

for (const db of DATABASES) {
  describe(`checkout saga [${db}]`, () => {
    let h: ModuleHarness;
    let orderDb: DbProbe;
    let paymentDb: DbProbe;
    let sagas: SagaStore;
    let closeSagas: () => Promise<void>;
    let productId: string;
    const user: Identity = { accountId: newId(), roles: ["customer"] };

    beforeEach(async () => {
      // Sweeps every 250 ms (ORDER_PAYMENT_TIMEOUT_S / 4), so resumed sagas are picked up fast.
      h = await startModules(
        [catalogModule, createPaymentModule(), createOrderModule()],
        { seed: true, orderPaymentTimeoutS: 1, paymentProviderTimeoutMs: 200 },
        { database: db },
      );
      orderDb = openProbe(h.database("order"));
      paymentDb = openProbe(h.database("payment"));
      // A second store on the order database (as another order instance would have).
      const d = h.database("order");
      const store = await openOrderDatabase(d.kind === "postgres" ? { ...d, poolMax: 2 } : d);
      sagas = store.sagas;
      closeSagas = () => store.close();
      const r = await h.query<{ products: { edges: { node: { id: string; stock: number } }[] } }>("catalog", PRODUCTS);
      productId = r.data?.products.edges.find((e) => e.node.stock >= 10)?.node.id as string;
    }, 60_000);
    afterEach(async () => {
      await closeSagas();
      await orderDb.close();
      await paymentDb.close();
      await h.stop();
    }, 30_000);

    const stock = async () => {
      const r = await h.query<{ product: { stock: number } }>("catalog", `query($id: ID!) { product(id: $id) { stock } }`, {
        id: productId,
      });
      return r.data?.product.stock as number;
    };
    const createOrder = async () => {
      const r = await h.query<{ createOrder: { id: string; total: { cents: number; currency: string } } }>(
        "order",
        CREATE,
        { input: { items: [{ productId, quantity: 3 }] } },
        user,
      );
      expect(r.errors).toBeUndefined();
      return r.data?.createOrder as { id: string; total: { cents: number; currency: string } };
    };
    const status = async (id: string) => (await h.query<{ order: { status: string } }>("order", ORDER, { id }, user)).data?.order.status;
    const sagaRow = (orderId: string) =>
      orderDb.get<{ step: string; status: string; failure_code: string | null }>(
        "SELECT step, status, failure_code FROM payment_sagas WHERE order_id = ?",
        orderId,
      );
    const payments = (orderId: string) => paymentDb.all<{ status: string }>("SELECT status FROM payments WHERE order_id = ?", orderId);

    /** A saga record as payOrder writes it, at `step`, with its lease expired (its driver died). */
    const orphan = (order: { id: string; total: { cents: number; currency: string } }, over: Partial<SagaRecord>): SagaRecord => {
      const paymentId = newId();
      const now = new Date().toISOString();
      return {
        orderId: order.id,
        paymentId,
        accountId: user.accountId,
        token: "tok_visa",
        amountCents: order.total.cents,
        currency: order.total.currency,
        step: "AUTHORIZE",
        status: "RUNNING",
        failureCode: null,
        failureMessage: null,
        authorizeKey: `${order.id}:${paymentId}:authorize`,
        captureKey: `${order.id}:${paymentId}:capture`,
        voidKey: `${order.id}:${paymentId}:void`,
        refundKey: `${order.id}:${paymentId}:refund`,
        attempts: 0,
        leaseUntil: 0,
        createdAt: now,
        updatedAt: now,
        ...over,
      };
    };

    test("payOrder tok_visa: saga SUCCEEDED, order PAID, one capture", async () => {
      const before = await stock();
      const order = await createOrder();
      const r = await h.query<{ payOrder: { status: string } }>("order", PAY, { id: order.id, token: "tok_visa" }, user);
      expect(r.errors).toBeUndefined();
      expect(r.data?.payOrder.status).toBe("PAID");
      expect(await sagaRow(order.id)).toEqual({ step: "DONE", status: "SUCCEEDED", failure_code: null });
      expect((await payments(order.id)).map((p) => p.status)).toEqual(["CAPTURED"]);
      await eventually(
        '(await catalogReservation(h, order.id)) === "committed"',
        async () => (await catalogReservation(h, order.id)) === "committed",
        { timeoutMs: 5000 },
      );
      expect(await stock()).toBe(before - 3);
    });

    test("payOrder tok_chargeDeclined: saga FAILED with PAYMENT_DECLINED, stock back", async () => {
      const before = await stock();
      const order = await createOrder();
      const r = await h.query("order", PAY, { id: order.id, token: "tok_chargeDeclined" }, user);
      expect(r.errors?.[0]?.extensions?.["code"]).toBe("PAYMENT_DECLINED");
      expect(await sagaRow(order.id)).toEqual({ step: "DONE", status: "FAILED", failure_code: "PAYMENT_DECLINED" });
      expect(await status(order.id)).toBe("PAYMENT_FAILED");
      expect(await stock()).toBe(before);
    });

    test("a saga left between authorize and capture is resumed to PAID, capturing once", async () => {
      const order = await createOrder();
      const saga = orphan(order, {});
      // The dead process had authorized (with the saga's key) but not recorded the step.
      const auth = await h.call<PaymentReply>(PaymentSubjects.authorize, {
        idempotencyKey: saga.authorizeKey,
        paymentId: saga.paymentId,
        orderId: order.id,
        accountId: user.accountId,
        amountCents: saga.amountCents,
        currency: saga.currency,
        token: "tok_visa",
      });
      expect(auth.status).toBe("AUTHORIZED");
      await sagas.start(saga);
      await eventually('(await status(order.id)) === "PAID"', async () => (await status(order.id)) === "PAID", { timeoutMs: 10_000 });
      // The order is marked paid first, then the saga's own row moves to DONE (next step).
      await eventually('(await sagaRow(order.id))?.step === "DONE"', async () => (await sagaRow(order.id))?.step === "DONE", {
        timeoutMs: 10_000,
      });
      expect(await sagaRow(order.id)).toEqual({ step: "DONE", status: "SUCCEEDED", failure_code: null });
      // Re-running AUTHORIZE with the same key did not authorize again.
      expect((await payments(order.id)).map((p) => p.status)).toEqual(["CAPTURED"]);
    });

    test("a saga left after capture, before marking PAID, is finished without a second capture", async () => {
      const order = await createOrder();
      const saga = orphan(order, { step: "MARK_PAID" });
      const pay = { paymentId: saga.paymentId, orderId: order.id };
      await h.call(PaymentSubjects.authorize, {
        ...pay,
        idempotencyKey: saga.authorizeKey,
        accountId: user.accountId,
        amountCents: saga.amountCents,
        currency: saga.currency,
        token: "tok_visa",
      });
      await h.call(PaymentSubjects.capture, { ...pay, idempotencyKey: saga.captureKey });
      await sagas.start(saga);
      await eventually('(await status(order.id)) === "PAID"', async () => (await status(order.id)) === "PAID", { timeoutMs: 10_000 });
      expect((await payments(order.id)).map((p) => p.status)).toEqual(["CAPTURED"]);
    });

    test("a saga left compensating is finished: voided, stock released, PAYMENT_FAILED", async () => {
      const before = await stock();
      const order = await createOrder();
      const saga = orphan(order, { step: "VOID", status: "COMPENSATING", failureCode: "PAYMENT_FAILED", failureMessage: "capture failed" });
      await h.call(PaymentSubjects.authorize, {
        idempotencyKey: saga.authorizeKey,
        paymentId: saga.paymentId,
        orderId: order.id,
        accountId: user.accountId,
        amountCents: saga.amountCents,
        currency: saga.currency,
        token: "tok_processingError",
      });
      await sagas.start(saga);
      await eventually('(await status(order.id)) === "PAYMENT_FAILED"', async () => (await status(order.id)) === "PAYMENT_FAILED", {
        timeoutMs: 10_000,
      });
      // The order is marked failed first, then the saga's own row moves to DONE (next step).
      await eventually('(await sagaRow(order.id))?.step === "DONE"', async () => (await sagaRow(order.id))?.step === "DONE", {
        timeoutMs: 10_000,
      });
      expect(await sagaRow(order.id)).toEqual({ step: "DONE", status: "FAILED", failure_code: "PAYMENT_FAILED" });
      expect((await payments(order.id)).map((p) => p.status)).toEqual(["VOIDED"]);
      expect(await stock()).toBe(before);
      // payOrder replays the failure.
      const r = await h.query("order", PAY, { id: order.id, token: "tok_visa" }, user);
      expect(r.errors?.[0]?.extensions?.["code"]).toBe("PAYMENT_FAILED");
    });

    test("a saga whose capture happened but whose compensation started refunds it", async () => {
      const order = await createOrder();
      const saga = orphan(order, { step: "VOID", status: "COMPENSATING", failureCode: "PAYMENT_FAILED" });
      const pay = { paymentId: saga.paymentId, orderId: order.id };
      await h.call(PaymentSubjects.authorize, {
        ...pay,
        idempotencyKey: saga.authorizeKey,
        accountId: user.accountId,
        amountCents: saga.amountCents,
        currency: saga.currency,
        token: "tok_visa",
      });
      await h.call(PaymentSubjects.capture, { ...pay, idempotencyKey: saga.captureKey });
      await sagas.start(saga);
      await eventually('(await status(order.id)) === "PAYMENT_FAILED"', async () => (await status(order.id)) === "PAYMENT_FAILED", {
        timeoutMs: 10_000,
      });
      expect((await payments(order.id)).map((p) => p.status)).toEqual(["REFUNDED"]);
    });
  });
}

/** Status of the catalog's reservation for an order. */
async function catalogReservation(h: ModuleHarness, orderId: string): Promise<string | undefined> {
  const probe = openProbe(h.database("catalog"));
  try {
    return (await probe.get<{ status: string }>("SELECT status FROM reservations WHERE id = ?", orderId))?.status;
  } finally {
    await probe.close();
  }
}
