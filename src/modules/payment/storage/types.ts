import type { OutboxNotify, OutboxSource } from "../../../kernel/index.ts";
import type { PaymentReply, PaymentStatusName } from "../contract/index.ts";

export type PaymentStatus = PaymentStatusName;

/** One payment (one authorization attempt of an order). Money in integer cents. */
export interface PaymentRecord {
  id: string;
  orderId: string;
  accountId: string;
  amountCents: number;
  currency: string;
  status: PaymentStatus;
  providerRef: string | null;
  /** Provider reason of a decline or failure (`card_declined`, `processing_error`, `provider_timeout`). */
  failureReason: string | null;
  /** ISO-8601 UTC. */
  createdAt: string;
  updatedAt: string;
}

/** The outcome of a command, stored under its idempotency key and replayed on a repeat. */
export type CommandOutcome =
  | { ok: true; reply: PaymentReply }
  | { ok: false; code: string; message: string; details?: Record<string, unknown> };

/** What a status change also sets. */
export interface TransitionPatch {
  providerRef?: string | null;
  failureReason?: string | null;
}

/**
 * Persistence of payments. Every state change writes its `payment.status_changed` event to the
 * outbox in the same transaction (and wakes the relay after the commit).
 */
export interface PaymentStore {
  /** The outbox the kernel relays (`ctx.relayOutbox`). */
  readonly outbox: OutboxSource & OutboxNotify;
  /**
   * Inserts `payment` (status as given) unless a payment with its id exists.
   * @returns the stored payment and whether this call created it.
   */
  insert(payment: PaymentRecord): Promise<{ payment: PaymentRecord; created: boolean }>;
  /**
   * Compare-and-set: moves the payment to `to` (with `patch`) if its status is one of `from`.
   * @returns the payment after the change, or null when it does not exist or its status is not in `from`.
   */
  transition(id: string, from: readonly PaymentStatus[], to: PaymentStatus, patch?: TransitionPatch): Promise<PaymentRecord | null>;
  byId(id: string): Promise<PaymentRecord | null>;
  /** The order's latest payment, or null. */
  latestForOrder(orderId: string): Promise<PaymentRecord | null>;
  /** The outcome stored for `idempotencyKey`, or null. */
  outcome(idempotencyKey: string): Promise<CommandOutcome | null>;
  /** Stores the outcome of a command (first writer wins; a repeat keeps the first). */
  saveOutcome(idempotencyKey: string, command: string, paymentId: string, outcome: CommandOutcome): Promise<void>;
  close(): Promise<void>;
}
