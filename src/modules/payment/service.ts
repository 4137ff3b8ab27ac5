import { AppError, badInput, ErrorCode, isId, notFound, type Logger } from "../../kernel/index.ts";
import { PaymentErrorCodes, type AuthorizePaymentRequest, type PaymentCommandRequest, type PaymentReply } from "./contract/index.ts";
import type { PaymentProvider } from "./provider.ts";
import type { CommandOutcome, PaymentRecord, PaymentStore } from "./storage/types.ts";

/** Resolves `p`, or `"timeout"` after `ms` (the provider call keeps running unobserved). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([p, new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

const reply = (p: PaymentRecord): PaymentReply => ({
  paymentId: p.id,
  orderId: p.orderId,
  status: p.status,
  providerRef: p.providerRef,
  amountCents: p.amountCents,
  currency: p.currency,
});

/** Codes that are the final answer to a command (replayed for its idempotency key); others may change on retry. */
const FINAL_CODES = new Set<string>([
  PaymentErrorCodes.declined,
  PaymentErrorCodes.providerTimeout,
  PaymentErrorCodes.captureFailed,
  ErrorCode.CONFLICT,
  ErrorCode.BAD_USER_INPUT,
]);

/**
 * The payment commands. Each runs under its idempotency key: a repeated key replays the stored
 * outcome. Underneath, every step is a compare-and-set on the payment's status and the provider
 * is called with keys derived from the command's key, so even a repeat that finds no stored
 * outcome (a crash before it was saved) cannot charge, capture or refund twice.
 */
export class PaymentService {
  constructor(
    private readonly store: PaymentStore,
    private readonly provider: PaymentProvider,
    /** How long to wait for the provider, ms. */
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {}

  /**
   * Authorizes `req.amountCents` on `req.token` as payment `req.paymentId`. An amount of 0 (a
   * free order) is authorized without calling the provider: nothing to hold, and providers
   * refuse zero charges; its capture and refund are recorded without a provider call too.
   * @throws AppError `PAYMENT_DECLINED`, `PAYMENT_PROVIDER_TIMEOUT`, `CONFLICT` (voided first), `BAD_USER_INPUT`.
   */
  authorize(req: AuthorizePaymentRequest): Promise<PaymentReply> {
    validateAuthorize(req);
    return this.idempotent(req.idempotencyKey, "authorize", req.paymentId, async () => {
      const now = new Date().toISOString();
      const { payment } = await this.store.insert({
        id: req.paymentId,
        orderId: req.orderId,
        accountId: req.accountId,
        amountCents: req.amountCents,
        currency: req.currency,
        status: "PENDING",
        providerRef: null,
        failureReason: null,
        createdAt: now,
        updatedAt: now,
      });
      if (payment.status !== "VOIDED" && (payment.orderId !== req.orderId || payment.amountCents !== req.amountCents)) {
        throw badInput(`payment ${req.paymentId} exists for another order or amount`, { paymentId: req.paymentId });
      }
      if (payment.status !== "PENDING") return authorizeAnswer(payment);
      if (req.amountCents === 0) {
        const free = await this.store.transition(req.paymentId, ["PENDING"], "AUTHORIZED");
        return authorizeAnswer(free ?? ((await this.store.byId(req.paymentId)) as PaymentRecord));
      }
      const result = await within(
        this.provider.authorize({
          idempotencyKey: `${req.idempotencyKey}:provider`,
          token: req.token,
          amountCents: req.amountCents,
          currency: req.currency,
        }),
        this.timeoutMs,
      );
      let next: PaymentRecord | null;
      if (result === "timeout") {
        this.logger.warn({ paymentId: req.paymentId, timeoutMs: this.timeoutMs }, "payment provider did not answer in time");
        next = await this.store.transition(req.paymentId, ["PENDING"], "FAILED", { failureReason: "provider_timeout" });
      } else if (result.outcome === "declined") {
        next = await this.store.transition(req.paymentId, ["PENDING"], "DECLINED", { failureReason: result.reason });
      } else {
        next = await this.store.transition(req.paymentId, ["PENDING"], "AUTHORIZED", { providerRef: result.providerRef });
        if (!next) {
          // Voided while the provider answered: release the hold we just got.
          const now = await this.store.byId(req.paymentId);
          if (now?.status === "VOIDED")
            await this.provider.void({ idempotencyKey: `${req.idempotencyKey}:late-void`, providerRef: result.providerRef });
        }
      }
      return authorizeAnswer(next ?? ((await this.store.byId(req.paymentId)) as PaymentRecord));
    });
  }

  /**
   * Captures an authorized payment.
   * @throws AppError `PAYMENT_CAPTURE_FAILED` (payment now FAILED), `NOT_FOUND`, `INVALID_STATE`, `PAYMENT_PROVIDER_TIMEOUT` (retry).
   */
  capture(req: PaymentCommandRequest): Promise<PaymentReply> {
    validateCommand(req);
    return this.idempotent(req.idempotencyKey, "capture", req.paymentId, async () => {
      const p = await this.store.byId(req.paymentId);
      if (!p) throw notFound("payment", req.paymentId);
      if (p.status === "CAPTURED") return reply(p);
      if (p.status === "FAILED" && p.failureReason === "processing_error") throw captureFailed(p);
      if (p.status === "AUTHORIZED" && p.amountCents === 0) return reply(await this.settleFree(p, "CAPTURED", "capture"));
      if (p.status !== "AUTHORIZED" || !p.providerRef) throw invalidState(p, "capture");
      const result = await within(
        this.provider.capture({ idempotencyKey: `${req.idempotencyKey}:provider`, providerRef: p.providerRef, amountCents: p.amountCents }),
        this.timeoutMs,
      );
      if (result === "timeout")
        throw new AppError(PaymentErrorCodes.providerTimeout, "the payment provider did not answer the capture in time", {
          paymentId: p.id,
          transient: true,
        });
      if (result.outcome === "failed") {
        const failed = await this.store.transition(p.id, ["AUTHORIZED"], "FAILED", { failureReason: result.reason });
        const now = failed ?? ((await this.store.byId(p.id)) as PaymentRecord);
        if (now.status === "CAPTURED") return reply(now);
        throw captureFailed(now);
      }
      const captured = await this.store.transition(p.id, ["AUTHORIZED"], "CAPTURED");
      const now = captured ?? ((await this.store.byId(p.id)) as PaymentRecord);
      if (now.status !== "CAPTURED") throw invalidState(now, "capture");
      return reply(now);
    });
  }

  /** Voids a payment that was not captured (see `PaymentSubjects.void`). */
  void(req: PaymentCommandRequest): Promise<PaymentReply> {
    validateCommand(req);
    return this.idempotent(req.idempotencyKey, "void", req.paymentId, async () => {
      for (let attempt = 0; attempt < 3; attempt++) {
        const p = await this.store.byId(req.paymentId);
        if (!p) {
          // Unknown: record it voided so that an authorize still in flight is refused.
          const now = new Date().toISOString();
          const { payment } = await this.store.insert({
            id: req.paymentId,
            orderId: req.orderId,
            accountId: "",
            amountCents: 0,
            currency: "XXX",
            status: "VOIDED",
            providerRef: null,
            failureReason: "voided_before_authorization",
            createdAt: now,
            updatedAt: now,
          });
          if (payment.status === "VOIDED") return reply(payment);
          continue;
        }
        if (p.status !== "PENDING" && p.status !== "AUTHORIZED" && p.status !== "FAILED") return reply(p);
        if (p.providerRef) await this.provider.void({ idempotencyKey: `${req.idempotencyKey}:provider`, providerRef: p.providerRef });
        const voided = await this.store.transition(p.id, [p.status], "VOIDED");
        if (voided) return reply(voided);
        // Changed meanwhile (e.g. PENDING → AUTHORIZED): look again.
      }
      throw new AppError(ErrorCode.CONFLICT, `payment ${req.paymentId} keeps changing; retry the void`, { paymentId: req.paymentId });
    });
  }

  /**
   * Refunds a captured payment in full.
   * @throws AppError `NOT_FOUND`, `INVALID_STATE`.
   */
  refund(req: PaymentCommandRequest): Promise<PaymentReply> {
    validateCommand(req);
    return this.idempotent(req.idempotencyKey, "refund", req.paymentId, async () => {
      const p = await this.store.byId(req.paymentId);
      if (!p) throw notFound("payment", req.paymentId);
      if (p.status === "REFUNDED") return reply(p);
      if (p.status === "CAPTURED" && p.amountCents === 0) return reply(await this.settleFree(p, "REFUNDED", "refund"));
      if (p.status !== "CAPTURED" || !p.providerRef) throw invalidState(p, "refund");
      await this.provider.refund({
        idempotencyKey: `${req.idempotencyKey}:provider`,
        providerRef: p.providerRef,
        amountCents: p.amountCents,
      });
      const refunded = await this.store.transition(p.id, ["CAPTURED"], "REFUNDED");
      const now = refunded ?? ((await this.store.byId(p.id)) as PaymentRecord);
      if (now.status !== "REFUNDED") throw invalidState(now, "refund");
      return reply(now);
    });
  }

  /**
   * Moves a zero-amount payment on (AUTHORIZED → CAPTURED, CAPTURED → REFUNDED) without the
   * provider: there is no money to move. Compare-and-set like the paid path.
   * @throws AppError `INVALID_STATE` when it changed meanwhile to something else.
   */
  private async settleFree(p: PaymentRecord, to: "CAPTURED" | "REFUNDED", what: string): Promise<PaymentRecord> {
    const moved = await this.store.transition(p.id, [p.status], to);
    const now = moved ?? ((await this.store.byId(p.id)) as PaymentRecord);
    if (now.status !== to) throw invalidState(now, what);
    return now;
  }

  /** Replays the stored outcome of `key`, or runs `fn` and stores a final outcome. */
  private async idempotent(key: string, command: string, paymentId: string, fn: () => Promise<PaymentReply>): Promise<PaymentReply> {
    const prior = await this.store.outcome(key);
    if (prior) return replay(prior);
    let outcome: CommandOutcome;
    try {
      outcome = { ok: true, reply: await fn() };
    } catch (err) {
      if (!(err instanceof AppError) || !FINAL_CODES.has(err.code) || err.details?.["transient"] === true) throw err;
      outcome = { ok: false, code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) };
    }
    await this.store.saveOutcome(key, command, paymentId, outcome);
    return replay(outcome);
  }
}

function replay(o: CommandOutcome): PaymentReply {
  if (o.ok) return o.reply;
  throw new AppError(o.code, o.message, o.details);
}

/** The answer of `authorize` for a payment in state `p`. */
function authorizeAnswer(p: PaymentRecord): PaymentReply {
  switch (p.status) {
    case "AUTHORIZED":
    case "CAPTURED":
    case "REFUNDED":
      return reply(p);
    case "DECLINED":
      throw new AppError(PaymentErrorCodes.declined, "the card was declined", {
        paymentId: p.id,
        reason: p.failureReason ?? "card_declined",
      });
    case "FAILED":
      if (p.failureReason === "provider_timeout") {
        throw new AppError(PaymentErrorCodes.providerTimeout, "the payment provider did not answer in time", { paymentId: p.id });
      }
      throw captureFailed(p);
    case "VOIDED":
      throw new AppError(ErrorCode.CONFLICT, `payment ${p.id} was voided`, { paymentId: p.id });
    case "PENDING":
      // Another attempt with this key is still waiting for the provider: the caller retries.
      throw new AppError(PaymentErrorCodes.providerTimeout, "the authorization is still in progress", { paymentId: p.id, transient: true });
  }
}

const captureFailed = (p: PaymentRecord): AppError =>
  new AppError(PaymentErrorCodes.captureFailed, "the payment provider could not capture the payment", {
    paymentId: p.id,
    reason: p.failureReason ?? "processing_error",
  });

const invalidState = (p: PaymentRecord, what: string): AppError =>
  new AppError(ErrorCode.INVALID_STATE, `cannot ${what} payment ${p.id} in status ${p.status}`, { paymentId: p.id, status: p.status });

/** Largest amount: 2^31 - 1 minor units, the most `Money.cents` (GraphQL Int) can show. */
const MAX_AMOUNT_CENTS = 2_147_483_647;

const nonEmpty = (v: unknown): v is string => typeof v === "string" && v.trim() !== "" && v.length <= 200;

/** @throws AppError BAD_USER_INPUT */
function validateCommand(req: PaymentCommandRequest): void {
  if (!req || !nonEmpty(req.idempotencyKey)) throw badInput("idempotencyKey must be a non-empty string (at most 200 characters)");
  if (!isId(req.paymentId)) throw badInput("paymentId must be a KSUID");
  if (!nonEmpty(req.orderId)) throw badInput("orderId must be a non-empty string");
}

/** @throws AppError BAD_USER_INPUT */
function validateAuthorize(req: AuthorizePaymentRequest): void {
  validateCommand(req);
  if (!nonEmpty(req.accountId)) throw badInput("accountId must be a non-empty string");
  if (!Number.isSafeInteger(req.amountCents) || req.amountCents < 0 || req.amountCents > MAX_AMOUNT_CENTS) {
    throw badInput(`amountCents must be an integer from 0 to ${MAX_AMOUNT_CENTS}`);
  }
  if (typeof req.currency !== "string" || !/^[A-Z]{3}$/.test(req.currency)) throw badInput("currency must be an ISO 4217 code");
  if (!nonEmpty(req.token)) throw badInput("token must be a non-empty string");
}
