import {
  AppError,
  ErrorCode,
  newId,
  notFound,
  REQUEST_ID_HEADER,
  unauthenticated,
  type Headers,
  type Identity,
  type Logger,
} from "../../kernel/index.ts";
import { sagaOutcomes } from "../../kernel/metrics.ts";
import { CatalogCommands, type ReleaseStockRequest } from "../catalog/contract/index.ts";
import { PaymentErrorCodes, PaymentCommands, type AuthorizePaymentRequest, type PaymentCommandRequest } from "../payment/contract/index.ts";
import type { SagaAdvance, SagaRecord, SagaStep, SagaStore } from "./storage/saga.ts";
import type { OrderRecord } from "./storage/types.ts";
import { sweepIntents } from "./intents.ts";
import { changeOrderStatus, type TransitionDeps } from "./transitions.ts";

/**
 * The checkout saga of `payOrder`, persisted step by step in `payment_sagas`:
 *
 * ```
 *  AUTHORIZE ──ok──► CAPTURE ──ok──► MARK_PAID ──► DONE (SUCCEEDED: order PAID, catalog commits the stock)
 *      │ declined/timeout │ capture failed  │ order cancelled meanwhile
 *      ▼                  ▼                 ▼
 *     VOID ──(was captured)──► REFUND ──► RELEASE_STOCK ──► MARK_FAILED ──► DONE (FAILED: order PAYMENT_FAILED)
 *      └──────────────────────────────────────┘
 * ```
 *
 * `step` is the next action. Each action is idempotent (payment commands carry the saga's
 * fixed idempotency keys; stock release and status changes are compare-and-set), and the step
 * only moves after the action succeeded, by a compare-and-set on the step. So a crash at any
 * point re-runs at most the last action, with the same keys: nothing is charged, refunded or
 * released twice. Unfinished sagas are resumed (or compensated) at start and whenever their
 * lease (held by the driving instance) expired.
 *
 * Transport failures (timeouts, no responders, open breakers) are retried; after
 * {@link FORWARD_ATTEMPTS} failed attempts a forward step compensates instead, while
 * compensation steps and MARK_PAID are retried until they succeed (in the background once the
 * request gave up).
 */

/** How long an instance owns a saga it drives before another may resume it, ms. */
export const SAGA_LEASE_MS = 10_000;
/** Failed attempts of AUTHORIZE / CAPTURE (transport errors) before the saga compensates. */
export const FORWARD_ATTEMPTS = 3;
/** Attempts a request makes at a compensation step before leaving it to the background resumer. */
const FOREGROUND_ATTEMPTS = 3;

export interface SagaDeps extends TransitionDeps {
  sagas: SagaStore;
  logger: Logger;
  /** The payment provider's timeout (the authorize call waits this plus a margin), ms. */
  providerTimeoutMs: number;
  /** Unpaid PENDING orders are cancelled after this many seconds. */
  paymentTimeoutS: number;
  /** Reservations of orders not written within this many ms are released (`ORDER_INTENT_GRACE_S`, see intents.ts). */
  intentGraceMs: number;
}

/** What a step's action decided. */
type StepResult = { next: SagaAdvance } | { retry: unknown };

const headersOf = (requestId: string | undefined): Headers => (requestId ? { [REQUEST_ID_HEADER]: requestId } : {});

/** True for failures that say nothing about the outcome (the call may be repeated with its key). */
function isTransient(err: unknown): boolean {
  if (!(err instanceof AppError)) return true;
  return err.code === ErrorCode.INTERNAL || err.code === ErrorCode.SERVICE_UNAVAILABLE || err.details?.["transient"] === true;
}

/** The client-facing error of a failed saga (code replayed on a repeated payOrder). */
function failureError(saga: SagaRecord): AppError {
  const code = saga.failureCode ?? "PAYMENT_FAILED";
  return new AppError(code, saga.failureMessage ?? "the payment failed; nothing was charged", {
    orderId: saga.orderId,
    paymentId: saga.paymentId,
  });
}

/**
 * Runs checkout sagas: `pay` (the payOrder mutation), plus a background loop that resumes
 * unfinished sagas and cancels unpaid orders (`ORDER_PAYMENT_TIMEOUT_S`). Safe with N
 * instances: leases keep two instances from driving one saga at once (and each step is
 * idempotent anyway), and the sweeper's cancel is a compare-and-set on PENDING.
 */
export class CheckoutSagas {
  readonly #deps: SagaDeps;
  readonly #driving = new Map<string, Promise<SagaRecord>>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #tick: Promise<void> | undefined;
  #stopped = false;

  constructor(deps: SagaDeps) {
    this.#deps = deps;
  }

  /**
   * `Mutation.payOrder`: pays the caller's PENDING order with `token`, running (or joining, or
   * replaying) its saga. Paying a PAID order returns it unchanged (no second charge).
   * @throws AppError `UNAUTHENTICATED`; `NOT_FOUND` (unknown or another account's order);
   *   `INVALID_STATE` (cancelled, or failed without a saga); `PAYMENT_DECLINED`; `PAYMENT_FAILED`
   *   (provider timeout, capture failure, payment service unreachable; nothing stays charged);
   *   `SERVICE_UNAVAILABLE` (compensation still running: the order settles as PAYMENT_FAILED).
   */
  async pay(req: { orderId: string; token: string; identity: Identity | null; headers: Headers; logger: Logger }): Promise<OrderRecord> {
    if (!req.identity) throw unauthenticated();
    const { store, sagas } = this.#deps;
    const order = await store.byId(req.orderId);
    if (!order || order.accountId !== req.identity.accountId) throw notFound("order", req.orderId);
    if (typeof req.token !== "string" || req.token.trim() === "" || req.token.length > 200) {
      throw new AppError(ErrorCode.BAD_USER_INPUT, "payment.token must be a non-empty string (at most 200 characters)");
    }
    let saga = await sagas.get(order.id);
    if (!saga) {
      if (order.status === "PAID") return order;
      if (order.status !== "PENDING") {
        throw new AppError(ErrorCode.INVALID_STATE, `an order in status ${order.status} cannot be paid`, { status: order.status });
      }
      const now = new Date().toISOString();
      const paymentId = newId();
      const key = (cmd: string) => `${order.id}:${paymentId}:${cmd}`;
      ({ saga } = await sagas.start({
        orderId: order.id,
        paymentId,
        accountId: order.accountId,
        token: req.token,
        amountCents: order.totalCents,
        currency: order.currency,
        step: "AUTHORIZE",
        status: "RUNNING",
        failureCode: null,
        failureMessage: null,
        authorizeKey: key("authorize"),
        captureKey: key("capture"),
        voidKey: key("void"),
        refundKey: key("refund"),
        attempts: 0,
        leaseUntil: Date.now() + SAGA_LEASE_MS,
        createdAt: now,
        updatedAt: now,
      }));
      req.logger.info({ orderId: order.id, paymentId: saga.paymentId }, "checkout saga started");
    }
    const done = await this.drive(saga, req.headers[REQUEST_ID_HEADER], req.logger, true);
    if (done.step !== "DONE") {
      throw new AppError(
        ErrorCode.SERVICE_UNAVAILABLE,
        "the payment could not be completed now; it is being settled and the order will show the outcome",
        { orderId: order.id },
      );
    }
    if (done.status === "FAILED") throw failureError(done);
    const paid = await store.byId(order.id);
    if (!paid) throw notFound("order", order.id);
    return paid;
  }

  /**
   * Drives `saga` until DONE, or until a step keeps failing on transport errors (then it is
   * left for the resumer). One drive per saga per process at a time: concurrent callers share it.
   */
  drive(saga: SagaRecord, requestId: string | undefined, logger: Logger, foreground: boolean): Promise<SagaRecord> {
    const running = this.#driving.get(saga.orderId);
    if (running) return running;
    const p = this.#run(saga, requestId, logger, foreground).finally(() => this.#driving.delete(saga.orderId));
    this.#driving.set(saga.orderId, p);
    return p;
  }

  async #run(start: SagaRecord, requestId: string | undefined, logger: Logger, foreground: boolean): Promise<SagaRecord> {
    const { sagas } = this.#deps;
    let saga = start;
    const log = logger.child({ orderId: saga.orderId, paymentId: saga.paymentId });
    let attempts = 0;
    while (saga.step !== "DONE" && !this.#stopped) {
      const result = await this.#step(saga, requestId, log).catch((err: unknown): StepResult => ({ retry: err }));
      if ("retry" in result) {
        attempts++;
        await sagas.failedAttempt(saga.orderId, Date.now() + SAGA_LEASE_MS).catch(() => undefined);
        log.warn({ err: result.retry, step: saga.step, attempt: attempts }, "saga step failed; retrying");
        const forward = saga.step === "AUTHORIZE" || saga.step === "CAPTURE";
        if (forward && attempts >= FORWARD_ATTEMPTS) {
          const next: SagaAdvance = {
            step: "VOID",
            status: "COMPENSATING",
            failureCode: "PAYMENT_FAILED",
            failureMessage: "the payment service did not answer; nothing was charged",
          };
          saga =
            (await sagas.advance(saga.orderId, saga.step, next, Date.now() + SAGA_LEASE_MS)) ??
            ((await sagas.get(saga.orderId)) as SagaRecord);
          attempts = 0;
          continue;
        }
        if (foreground && attempts >= FOREGROUND_ATTEMPTS) {
          // Let the resumer take over soon rather than after a full lease.
          await sagas.failedAttempt(saga.orderId, Date.now() + 1000).catch(() => undefined);
          return saga;
        }
        await Bun.sleep(Math.min(5000, 100 * 2 ** attempts) * (0.5 + Math.random() / 2));
        continue;
      }
      attempts = 0;
      const from = saga.step;
      const advanced = await sagas.advance(saga.orderId, from, result.next, Date.now() + SAGA_LEASE_MS);
      // Null: another instance moved it meanwhile; continue from where it is now.
      saga = advanced ?? ((await sagas.get(saga.orderId)) as SagaRecord);
      log.debug({ from, to: saga.step, status: saga.status }, "saga advanced");
      if (saga.step === "DONE" && advanced) {
        const outcome = saga.status === "SUCCEEDED" ? "completed" : "compensated";
        sagaOutcomes.inc({ saga: "checkout", outcome });
        log.info({ outcome, failure: saga.failureCode }, `checkout saga ${outcome}`);
      }
    }
    return saga;
  }

  /** Runs the action of `saga.step` once. Rejections are transient failures (retried). */
  async #step(saga: SagaRecord, requestId: string | undefined, log: Logger): Promise<StepResult> {
    const d = this.#deps;
    const headers = headersOf(requestId);
    const cmd = (idempotencyKey: string): PaymentCommandRequest => ({ idempotencyKey, paymentId: saga.paymentId, orderId: saga.orderId });
    const compensate = (failureCode: string, failureMessage: string): StepResult => ({
      next: { step: "VOID", status: "COMPENSATING", failureCode, failureMessage },
    });
    const step: SagaStep = saga.step;
    switch (step) {
      case "AUTHORIZE":
      case "CAPTURE": {
        const order = await d.store.byId(saga.orderId);
        if (order?.status !== "PENDING")
          return compensate(ErrorCode.INVALID_STATE, `the order became ${order?.status ?? "unknown"} during payment`);
        try {
          if (step === "AUTHORIZE") {
            const body: AuthorizePaymentRequest = {
              ...cmd(saga.authorizeKey),
              accountId: saga.accountId,
              amountCents: saga.amountCents,
              currency: saga.currency,
              token: saga.token,
            };
            await d.call(PaymentCommands.authorize, body, {
              headers,
              timeoutMs: d.providerTimeoutMs + 5000,
              idempotent: true,
            });
            return { next: { step: "CAPTURE", status: "RUNNING" } };
          }
          await d.call(PaymentCommands.capture, cmd(saga.captureKey), {
            headers,
            timeoutMs: d.providerTimeoutMs + 5000,
            idempotent: true,
          });
          return { next: { step: "MARK_PAID", status: "RUNNING" } };
        } catch (err) {
          if (isTransient(err)) return { retry: err };
          const e = err as AppError;
          if (e.code === PaymentErrorCodes.declined) return compensate(PaymentErrorCodes.declined, "the card was declined");
          if (e.code === PaymentErrorCodes.providerTimeout)
            return compensate("PAYMENT_FAILED", "the payment provider did not answer in time; nothing was charged");
          if (e.code === PaymentErrorCodes.captureFailed)
            return compensate("PAYMENT_FAILED", "the payment could not be captured; nothing was charged");
          return compensate("PAYMENT_FAILED", `the payment failed (${e.code}); nothing was charged`);
        }
      }
      case "MARK_PAID": {
        try {
          await changeOrderStatus(d, { orderId: saga.orderId, to: "PAID", from: ["PENDING"], headers, logger: log });
        } catch (err) {
          if (!(err instanceof AppError) || err.code !== ErrorCode.INVALID_STATE) throw err;
          const order = await d.store.byId(saga.orderId);
          // Already PAID: this step ran before a crash. Anything else (cancelled meanwhile): give the money back.
          if (order?.status !== "PAID")
            return {
              next: {
                step: "REFUND",
                status: "COMPENSATING",
                failureCode: ErrorCode.INVALID_STATE,
                failureMessage: `the order became ${order?.status ?? "unknown"} during payment; the payment was refunded`,
              },
            };
        }
        return { next: { step: "DONE", status: "SUCCEEDED" } };
      }
      case "VOID": {
        const r = await d.call(PaymentCommands.void, cmd(saga.voidKey), { headers, idempotent: true });
        // Captured after all (a capture whose reply was lost): refund it.
        return { next: { step: r.status === "CAPTURED" ? "REFUND" : "RELEASE_STOCK", status: "COMPENSATING" } };
      }
      case "REFUND": {
        try {
          await d.call(PaymentCommands.refund, cmd(saga.refundKey), { headers, idempotent: true });
        } catch (err) {
          // INVALID_STATE: not captured (nothing to give back).
          if (!(err instanceof AppError) || err.code !== ErrorCode.INVALID_STATE) throw err;
          log.warn({ err }, "refund found nothing captured");
        }
        return { next: { step: "RELEASE_STOCK", status: "COMPENSATING" } };
      }
      case "RELEASE_STOCK": {
        const body: ReleaseStockRequest = { reservationId: saga.orderId };
        const r = await d.call(CatalogCommands.releaseStock, body, { headers, idempotent: true });
        log.info({ released: r.released }, "saga released the stock reservation");
        return { next: { step: "MARK_FAILED", status: "COMPENSATING" } };
      }
      case "MARK_FAILED": {
        try {
          await changeOrderStatus(d, { orderId: saga.orderId, to: "PAYMENT_FAILED", from: ["PENDING"], headers, logger: log });
        } catch (err) {
          // Already PAYMENT_FAILED (re-run) or CANCELLED meanwhile: nothing left to do.
          if (!(err instanceof AppError) || err.code !== ErrorCode.INVALID_STATE) throw err;
        }
        return { next: { step: "DONE", status: "FAILED" } };
      }
      case "DONE":
        return { next: { step: "DONE", status: saga.status } };
    }
  }

  /**
   * Starts the background loop (every `min(5 s, ORDER_PAYMENT_TIMEOUT_S / 4, ORDER_INTENT_GRACE_S / 4)`):
   * resume unfinished sagas whose lease expired (a crashed instance's, or this process's before
   * a restart), release the reservations of orders never written within the grace period (see
   * intents.ts), then cancel PENDING orders without a saga that are older than
   * `ORDER_PAYMENT_TIMEOUT_S` (their stock is released by the status change). Runs once at once.
   */
  start(): void {
    const every = Math.max(100, Math.min(5000, (this.#deps.paymentTimeoutS * 1000) / 4, this.#deps.intentGraceMs / 4));
    this.#timer = setInterval(() => void this.#loop(), every);
    void this.#loop();
  }

  /** Stops the loop and waits for running drives (they stop between steps). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#tick;
    await Promise.allSettled([...this.#driving.values()]);
  }

  #loop(): Promise<void> {
    if (this.#tick || this.#stopped) return this.#tick ?? Promise.resolve();
    this.#tick = this.#sweep()
      .catch((err: unknown) => this.#deps.logger.warn({ err }, "saga resumer / unpaid-order sweeper pass failed"))
      .finally(() => (this.#tick = undefined));
    return this.#tick;
  }

  async #sweep(): Promise<void> {
    const d = this.#deps;
    const now = Date.now();
    for (const saga of await d.sagas.unfinished(now, 50)) {
      if (this.#stopped) return;
      if (this.#driving.has(saga.orderId)) continue;
      if (!(await d.sagas.claim(saga.orderId, now, now + SAGA_LEASE_MS))) continue;
      d.logger.info({ orderId: saga.orderId, step: saga.step, status: saga.status }, "resuming checkout saga");
      sagaOutcomes.inc({ saga: "checkout", outcome: "resumed" });
      void this.drive({ ...saga, leaseUntil: now + SAGA_LEASE_MS }, undefined, d.logger, false).catch((err: unknown) =>
        d.logger.error({ err, orderId: saga.orderId }, "resumed saga failed"),
      );
    }
    // Reservations requested for orders that were never written: give the stock back.
    await sweepIntents({ sagas: d.sagas, call: d.call, logger: d.logger, graceMs: d.intentGraceMs, stopped: () => this.#stopped });
    if (this.#stopped) return;
    const cutoff = new Date(now - d.paymentTimeoutS * 1000).toISOString();
    for (const orderId of await d.sagas.unpaidBefore(cutoff, 100)) {
      if (this.#stopped) return;
      try {
        // Compare-and-set on PENDING: of N instances sweeping together, one cancels.
        await changeOrderStatus(d, { orderId, to: "CANCELLED", from: ["PENDING"], headers: {}, logger: d.logger });
        sagaOutcomes.inc({ saga: "checkout", outcome: "expired" });
        d.logger.info({ orderId, timeoutS: d.paymentTimeoutS }, "unpaid order cancelled");
      } catch (err) {
        if (!(err instanceof AppError) || err.code !== ErrorCode.INVALID_STATE)
          d.logger.warn({ err, orderId }, "could not cancel an unpaid order");
      }
    }
  }
}
