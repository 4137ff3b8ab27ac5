import type { PaymentStatusName } from "./subjects.ts";

/** Events the payment module publishes (through its transactional outbox). */
export const PaymentEvents = {
  /** A payment changed status. Payload {@link PaymentStatusChangedEvent}. */
  statusChanged: "payment.status_changed",
} as const;

export interface PaymentStatusChangedEvent {
  /** Event id (KSUID) for consumer deduplication. */
  eventId: string;
  paymentId: string;
  orderId: string;
  status: PaymentStatusName;
  /** Null when the payment was created by this change. */
  previousStatus: PaymentStatusName | null;
  amountCents: number;
  currency: string;
  /** ISO-8601 UTC, when the change committed. */
  at: string;
}
