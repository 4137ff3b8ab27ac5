import { z } from "zod";
import { defineCommand, subjectsOf } from "../../../kernel/index.ts";

/**
 * Bus subjects the payment module serves (request/reply, queue group `payment`). Every command
 * carries an `idempotencyKey` chosen by the caller: repeating a command with the same key (a
 * retry after a timeout, a redelivery, a resumed saga) returns the first outcome, never charges
 * or refunds twice. The payment id is chosen by the caller too, so a caller that lost the
 * reply to `authorize` can still `void` it.
 */

/** Status of a payment (GraphQL `PaymentStatus`). */
export const paymentStatusName = z.enum(["PENDING", "AUTHORIZED", "CAPTURED", "DECLINED", "FAILED", "VOIDED", "REFUNDED"]);
export type PaymentStatusName = z.infer<typeof paymentStatusName>;

const authorizePaymentRequest = z.object({
  /** Unique per attempt (e.g. `<orderId>:authorize`); repeats return the first outcome. */
  idempotencyKey: z.string(),
  /** Chosen by the caller (KSUID). */
  paymentId: z.string(),
  orderId: z.string(),
  /** Owner of the order: only this account reads the payment through GraphQL. */
  accountId: z.string(),
  /**
   * Integer minor units, 0 to 2^31 - 1. 0 (a free order) is authorized, captured and refunded
   * without calling the card provider: the payment ends CAPTURED with no provider reference.
   */
  amountCents: z.int(),
  /** ISO 4217 code. */
  currency: z.string(),
  /** Card token from the client, e.g. `tok_visa` (sandbox tokens: see the README). */
  token: z.string(),
});
export type AuthorizePaymentRequest = z.infer<typeof authorizePaymentRequest>;

const paymentCommandRequest = z.object({
  idempotencyKey: z.string(),
  paymentId: z.string(),
  /** The order the payment belongs to (recorded when voiding an unknown payment). */
  orderId: z.string(),
});
export type PaymentCommandRequest = z.infer<typeof paymentCommandRequest>;

const paymentReply = z.object({
  paymentId: z.string(),
  orderId: z.string(),
  status: paymentStatusName,
  /** The provider's reference of the authorization, once there is one. */
  providerRef: z.string().nullable(),
  amountCents: z.int(),
  currency: z.string(),
});
export type PaymentReply = z.infer<typeof paymentReply>;

/** The payment module's commands. */
export const PaymentCommands = {
  /**
   * Authorizes (holds) an amount on a card token; replies status `AUTHORIZED`. Errors (AppError codes):
   * `PAYMENT_DECLINED` (details `{ paymentId, reason }`), `PAYMENT_PROVIDER_TIMEOUT` (the
   * provider did not answer within `PAYMENT_PROVIDER_TIMEOUT_MS`; the payment is `FAILED`),
   * `CONFLICT` (the payment was voided before it was authorized), `BAD_USER_INPUT`.
   */
  authorize: defineCommand("payment.authorize", { request: authorizePaymentRequest, reply: paymentReply }),
  /**
   * Captures an authorized payment; replies `CAPTURED`. Errors: `PAYMENT_CAPTURE_FAILED` (the
   * provider refused; the payment is `FAILED` and should be voided), `NOT_FOUND`, `INVALID_STATE` (not authorized).
   */
  capture: defineCommand("payment.capture", { request: paymentCommandRequest, reply: paymentReply }),
  /**
   * Voids (releases) a payment that was not captured; replies `VOIDED`. `DECLINED` or an unknown
   * payment become/stay what they are (an unknown id is recorded as `VOIDED`, so a late
   * `authorize` with that id is refused); a `CAPTURED` or `REFUNDED` payment is returned
   * unchanged (refund it instead).
   */
  void: defineCommand("payment.void", { request: paymentCommandRequest, reply: paymentReply }),
  /** Refunds a captured payment in full; replies `REFUNDED`. Errors: `NOT_FOUND`, `INVALID_STATE` (not captured). */
  refund: defineCommand("payment.refund", { request: paymentCommandRequest, reply: paymentReply }),
};

/** Subjects of {@link PaymentCommands}, by the same names. */
export const PaymentSubjects = subjectsOf(PaymentCommands);

/** AppError codes of the payment commands (also surfaced by `payOrder`). */
export const PaymentErrorCodes = {
  /** The provider refused the authorization (details `{ paymentId, reason }`). */
  declined: "PAYMENT_DECLINED",
  /** The provider did not answer within `PAYMENT_PROVIDER_TIMEOUT_MS`. */
  providerTimeout: "PAYMENT_PROVIDER_TIMEOUT",
  /** The provider refused the capture of an authorized payment (details `{ paymentId, reason }`). */
  captureFailed: "PAYMENT_CAPTURE_FAILED",
} as const;
