import { z } from "zod";
import { defineEvent, subjectsOf } from "../../../kernel/index.ts";
import { paymentStatusName } from "./subjects.ts";

const paymentStatusChangedEvent = z.object({
  /** Event id (KSUID) for consumer deduplication. */
  eventId: z.string(),
  paymentId: z.string(),
  orderId: z.string(),
  status: paymentStatusName,
  /** Null when the payment was created by this change. */
  previousStatus: paymentStatusName.nullable(),
  amountCents: z.int(),
  currency: z.string(),
  /** ISO-8601 UTC, when the change committed. */
  at: z.string(),
});
export type PaymentStatusChangedEvent = z.infer<typeof paymentStatusChangedEvent>;

/** Events the payment module publishes (through its transactional outbox). */
export const PaymentEventTypes = {
  /** A payment changed status. */
  statusChanged: defineEvent("payment.status_changed", paymentStatusChangedEvent),
};

/** Subjects of {@link PaymentEventTypes}, by the same names. */
export const PaymentEvents = subjectsOf(PaymentEventTypes);
