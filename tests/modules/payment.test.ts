import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { AppError } from "../../src/kernel/errors.ts";
import { newId } from "../../src/kernel/ids.ts";
import type { Msg } from "../../src/kernel/bus/types.ts";
import {
  PaymentEvents,
  PaymentSubjects,
  type AuthorizePaymentRequest,
  type PaymentReply,
  type PaymentStatusChangedEvent,
} from "../../src/modules/payment/contract/index.ts";
import { createPaymentModule } from "../../src/modules/payment/module.ts";
import { DATABASES, openProbe, usePostgres, type DbProbe } from "../helpers/databases.ts";
import { startModules, type ModuleHarness } from "../helpers/modules.ts";
import { eventually } from "../helpers/eventually.ts";

usePostgres();

/** Awaits `p` expecting an AppError with `code`. */
async function rejectsWith(p: Promise<unknown>, code: string): Promise<AppError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe(code);
    return err as AppError;
  }
  throw new Error(`expected ${code}`);
}

for (const db of DATABASES) {
  describe(`payment module [${db}]`, () => {
    let h: ModuleHarness;
    let probe: DbProbe;
    const events: PaymentStatusChangedEvent[] = [];
    beforeEach(async () => {
      events.length = 0;
      h = await startModules([createPaymentModule()], { paymentProviderTimeoutMs: 150, paymentProviderLatencyMs: 1 }, { database: db });
      h.bus.subscribe(PaymentEvents.statusChanged, (m: Msg) => void events.push(m.json<PaymentStatusChangedEvent>()));
      probe = openProbe(h.database("payment"));
    }, 60_000);
    afterEach(async () => {
      await probe.close();
      await h.stop();
    }, 30_000);

    const authorizeReq = (token: string, over: Partial<AuthorizePaymentRequest> = {}): AuthorizePaymentRequest => ({
      idempotencyKey: `k-${newId()}`,
      paymentId: newId(),
      orderId: newId(),
      accountId: newId(),
      amountCents: 2599,
      currency: "USD",
      token,
      ...over,
    });
    const cmd = (paymentId: string, orderId: string, key = `k-${newId()}`) => ({ idempotencyKey: key, paymentId, orderId });
    const count = async (sql: string, ...p: string[]) => Number((await probe.get<{ n: number }>(sql, ...p))?.n ?? 0);

    test("tok_visa: authorize → capture → refund, each repeat returns the first outcome", async () => {
      const req = authorizeReq("tok_visa");
      const auth = await h.call<PaymentReply>(PaymentSubjects.authorize, req);
      expect(auth.status).toBe("AUTHORIZED");
      expect(auth.providerRef).toStartWith("pi_");
      expect(await h.call<PaymentReply>(PaymentSubjects.authorize, req)).toEqual(auth);
      const capture = cmd(req.paymentId, req.orderId);
      const captured = await h.call<PaymentReply>(PaymentSubjects.capture, capture);
      expect(captured.status).toBe("CAPTURED");
      // Same key, and even a new key: captured once.
      expect((await h.call<PaymentReply>(PaymentSubjects.capture, capture)).status).toBe("CAPTURED");
      expect((await h.call<PaymentReply>(PaymentSubjects.capture, cmd(req.paymentId, req.orderId))).status).toBe("CAPTURED");
      // A void of a captured payment changes nothing: it must be refunded.
      expect((await h.call<PaymentReply>(PaymentSubjects.void, cmd(req.paymentId, req.orderId))).status).toBe("CAPTURED");
      const refund = cmd(req.paymentId, req.orderId);
      expect((await h.call<PaymentReply>(PaymentSubjects.refund, refund)).status).toBe("REFUNDED");
      expect((await h.call<PaymentReply>(PaymentSubjects.refund, refund)).status).toBe("REFUNDED");
      await eventually("events.length === 4", () => events.length === 4);
      expect(events.map((e) => e.status)).toEqual(["PENDING", "AUTHORIZED", "CAPTURED", "REFUNDED"]);
      expect(new Set(events.map((e) => e.eventId)).size).toBe(4);
      expect(await count("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL")).toBe(0);
    });

    test("tok_chargeDeclined: PAYMENT_DECLINED, replayed for the same key", async () => {
      const req = authorizeReq("tok_chargeDeclined");
      const err = await rejectsWith(h.call(PaymentSubjects.authorize, req), "PAYMENT_DECLINED");
      expect(err.details?.["reason"]).toBe("card_declined");
      await rejectsWith(h.call(PaymentSubjects.authorize, req), "PAYMENT_DECLINED");
      expect(await count("SELECT count(*) AS n FROM payments WHERE status = 'DECLINED' AND id = ?", req.paymentId)).toBe(1);
      // Voiding a declined payment is a no-op.
      expect((await h.call<PaymentReply>(PaymentSubjects.void, cmd(req.paymentId, req.orderId))).status).toBe("DECLINED");
    });

    test("tok_processingError: authorizes, capture fails, void releases it", async () => {
      const req = authorizeReq("tok_processingError");
      expect((await h.call<PaymentReply>(PaymentSubjects.authorize, req)).status).toBe("AUTHORIZED");
      await rejectsWith(h.call(PaymentSubjects.capture, cmd(req.paymentId, req.orderId)), "PAYMENT_CAPTURE_FAILED");
      await rejectsWith(h.call(PaymentSubjects.capture, cmd(req.paymentId, req.orderId)), "PAYMENT_CAPTURE_FAILED");
      expect((await h.call<PaymentReply>(PaymentSubjects.void, cmd(req.paymentId, req.orderId))).status).toBe("VOIDED");
      await rejectsWith(h.call(PaymentSubjects.refund, cmd(req.paymentId, req.orderId)), "INVALID_STATE");
    });

    test("tok_timeout: PAYMENT_PROVIDER_TIMEOUT after the provider timeout; payment FAILED, then voidable", async () => {
      const req = authorizeReq("tok_timeout");
      await rejectsWith(h.call(PaymentSubjects.authorize, req), "PAYMENT_PROVIDER_TIMEOUT");
      expect(await count("SELECT count(*) AS n FROM payments WHERE status = 'FAILED' AND id = ?", req.paymentId)).toBe(1);
      expect((await h.call<PaymentReply>(PaymentSubjects.void, cmd(req.paymentId, req.orderId))).status).toBe("VOIDED");
    });

    test("a void before the authorization refuses the late authorization", async () => {
      const req = authorizeReq("tok_visa");
      expect((await h.call<PaymentReply>(PaymentSubjects.void, cmd(req.paymentId, req.orderId))).status).toBe("VOIDED");
      await rejectsWith(h.call(PaymentSubjects.authorize, req), "CONFLICT");
      expect(await count("SELECT count(*) AS n FROM payments WHERE status = 'VOIDED' AND id = ?", req.paymentId)).toBe(1);
    });

    test("concurrent repeats of one authorize+capture charge once", async () => {
      const req = authorizeReq("tok_visa");
      const auths = await Promise.all(Array.from({ length: 8 }, () => h.call<PaymentReply>(PaymentSubjects.authorize, req)));
      expect(new Set(auths.map((a) => a.providerRef)).size).toBe(1);
      const c = cmd(req.paymentId, req.orderId);
      const caps = await Promise.all(Array.from({ length: 8 }, () => h.call<PaymentReply>(PaymentSubjects.capture, c)));
      expect(caps.every((x) => x.status === "CAPTURED")).toBe(true);
      await eventually(
        "events.filter((e) => e.paymentId === req.paymentId).length >= 3",
        () => events.filter((e) => e.paymentId === req.paymentId).length >= 3,
      );
      await Bun.sleep(50); // a window in which no second CAPTURED event may follow
      expect(events.filter((e) => e.paymentId === req.paymentId && e.status === "CAPTURED").length).toBe(1);
    });

    test("amount 0 (a free order): authorize, capture, refund and void without the provider, even with a declined card", async () => {
      // tok_chargeDeclined: the provider would decline; a 0 amount never reaches it.
      const req = authorizeReq("tok_chargeDeclined", { amountCents: 0 });
      const auth = await h.call<PaymentReply>(PaymentSubjects.authorize, req);
      expect(auth).toMatchObject({ status: "AUTHORIZED", providerRef: null, amountCents: 0 });
      expect(await h.call<PaymentReply>(PaymentSubjects.authorize, req)).toEqual(auth);
      const captured = await h.call<PaymentReply>(PaymentSubjects.capture, cmd(req.paymentId, req.orderId));
      expect(captured).toMatchObject({ status: "CAPTURED", providerRef: null, amountCents: 0 });
      const refunded = await h.call<PaymentReply>(PaymentSubjects.refund, cmd(req.paymentId, req.orderId));
      expect(refunded.status).toBe("REFUNDED");
      await eventually(
        "events.filter((e) => e.paymentId === req.paymentId).length >= 4",
        () => events.filter((e) => e.paymentId === req.paymentId).length >= 4,
      );
      expect(events.filter((e) => e.paymentId === req.paymentId).map((e) => e.status)).toEqual([
        "PENDING",
        "AUTHORIZED",
        "CAPTURED",
        "REFUNDED",
      ]);

      const other = authorizeReq("tok_visa", { amountCents: 0 });
      await h.call<PaymentReply>(PaymentSubjects.authorize, other);
      expect((await h.call<PaymentReply>(PaymentSubjects.void, cmd(other.paymentId, other.orderId))).status).toBe("VOIDED");
      const q = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { payment { status amount { cents amount } providerReference chargeRequired } } } }`;
      const view = await h.query<{ _entities: { payment: unknown }[] }>(
        "payment",
        q,
        { r: [{ __typename: "Order", id: req.orderId }] },
        { accountId: req.accountId, roles: ["customer"] },
      );
      expect(view.data?._entities[0]?.payment).toEqual({
        status: "REFUNDED",
        amount: { cents: 0, amount: "0.00" },
        providerReference: null,
        chargeRequired: false,
      });
    });

    test("bad input is refused with BAD_USER_INPUT", async () => {
      await rejectsWith(h.call(PaymentSubjects.authorize, authorizeReq("tok_visa", { amountCents: -1 })), "BAD_USER_INPUT");
      // Above 2^31 - 1 (what Money.cents can show); 0 is valid (a free order, see order-limits.test.ts).
      await rejectsWith(h.call(PaymentSubjects.authorize, authorizeReq("tok_visa", { amountCents: 2_147_483_648 })), "BAD_USER_INPUT");
      await rejectsWith(h.call(PaymentSubjects.authorize, authorizeReq("tok_visa", { paymentId: "nope" })), "BAD_USER_INPUT");
      await rejectsWith(h.call(PaymentSubjects.capture, { idempotencyKey: "", paymentId: newId(), orderId: "o" }), "BAD_USER_INPUT");
    });

    test("Order.payment resolves for the owner only", async () => {
      const req = authorizeReq("tok_visa");
      await h.call(PaymentSubjects.authorize, req);
      const q = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { id payment { id status amount { cents currency } providerReference } } } }`;
      const mine = await h.query<{ _entities: { payment: { id: string; status: string; amount: { cents: number } } | null }[] }>(
        "payment",
        q,
        { r: [{ __typename: "Order", id: req.orderId }] },
        { accountId: req.accountId, roles: ["customer"] },
      );
      expect(mine.errors).toBeUndefined();
      expect(mine.data?._entities[0]?.payment).toMatchObject({ id: req.paymentId, status: "AUTHORIZED", amount: { cents: 2599 } });
      const other = await h.query<{ _entities: { payment: unknown }[] }>(
        "payment",
        q,
        { r: [{ __typename: "Order", id: req.orderId }] },
        { accountId: newId(), roles: ["customer"] },
      );
      expect(other.data?._entities[0]?.payment).toBeNull();
    });
  });
}
