/**
 * Bus subjects the payment module serves (request/reply, queue group `payment`). Every command
 * carries an `idempotencyKey` chosen by the caller: repeating a command with the same key (a
 * retry after a timeout, a redelivery, a resumed saga) returns the first outcome, never charges
 * or refunds twice. The payment id is chosen by the caller too, so a caller that lost the
 * reply to `authorize` can still `void` it.
 */
export const PaymentSubjects = {
  /**
   * Authorizes (holds) an amount on a card token. Request {@link AuthorizePaymentRequest} →
   * reply {@link PaymentReply} with status `AUTHORIZED`. Errors (AppError codes):
   * `PAYMENT_DECLINED` (details `{ paymentId, reason }`), `PAYMENT_PROVIDER_TIMEOUT` (the
   * provider did not answer within `PAYMENT_PROVIDER_TIMEOUT_MS`; the payment is `FAILED`),
   * `CONFLICT` (the payment was voided before it was authorized), `BAD_USER_INPUT`.
   */
  authorize: "payment.authorize",
  /**
   * Captures an authorized payment. Request {@link PaymentCommandRequest} → {@link PaymentReply}
   * `CAPTURED`. Errors: `PAYMENT_CAPTURE_FAILED` (the provider refused; the payment is
   * `FAILED` and should be voided), `NOT_FOUND`, `INVALID_STATE` (not authorized).
   */
  capture: "payment.capture",
  /**
   * Voids (releases) a payment that was not captured. Request {@link PaymentCommandRequest} →
   * {@link PaymentReply}: `VOIDED`; `DECLINED` or an unknown payment become/stay what they are
   * (an unknown id is recorded as `VOIDED`, so a late `authorize` with that id is refused);
   * a `CAPTURED` or `REFUNDED` payment is returned unchanged (refund it instead).
   */
  void: "payment.void",
  /**
   * Refunds a captured payment in full. Request {@link PaymentCommandRequest} →
   * {@link PaymentReply} `REFUNDED`. Errors: `NOT_FOUND`, `INVALID_STATE` (not captured).
   */
  refund: "payment.refund",
} as const;

/** Status of a payment (GraphQL `PaymentStatus`). */
export type PaymentStatusName = "PENDING" | "AUTHORIZED" | "CAPTURED" | "DECLINED" | "FAILED" | "VOIDED" | "REFUNDED";

export interface AuthorizePaymentRequest {
  /** Unique per attempt (e.g. `<orderId>:authorize`); repeats return the first outcome. */
  idempotencyKey: string;
  /** Chosen by the caller (KSUID). */
  paymentId: string;
  orderId: string;
  /** Owner of the order: only this account reads the payment through GraphQL. */
  accountId: string;
  /**
   * Integer minor units, 0 to 2^31 - 1. 0 (a free order) is authorized, captured and refunded
   * without calling the card provider: the payment ends CAPTURED with no provider reference.
   */
  amountCents: number;
  /** ISO 4217 code. */
  currency: string;
  /** Card token from the client, e.g. `tok_visa` (sandbox tokens: see the README). */
  token: string;
}

export interface PaymentCommandRequest {
  idempotencyKey: string;
  paymentId: string;
  /** The order the payment belongs to (recorded when voiding an unknown payment). */
  orderId: string;
}

export interface PaymentReply {
  paymentId: string;
  orderId: string;
  status: PaymentStatusName;
  /** The provider's reference of the authorization, once there is one. */
  providerRef: string | null;
  amountCents: number;
  currency: string;
}

/** AppError codes of the payment commands (also surfaced by `payOrder`). */
export const PaymentErrorCodes = {
  /** The provider refused the authorization (details `{ paymentId, reason }`). */
  declined: "PAYMENT_DECLINED",
  /** The provider did not answer within `PAYMENT_PROVIDER_TIMEOUT_MS`. */
  providerTimeout: "PAYMENT_PROVIDER_TIMEOUT",
  /** The provider refused the capture of an authorized payment (details `{ paymentId, reason }`). */
  captureFailed: "PAYMENT_CAPTURE_FAILED",
} as const;
