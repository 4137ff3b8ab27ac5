import { newId } from "../../../kernel/index.ts";
import type { PaymentStatusChangedEvent } from "../contract/index.ts";
import type { PaymentRecord, PaymentStatus } from "./types.ts";

/** The `payment.status_changed` event of a change of `p` from `previous`. */
export const statusChanged = (p: PaymentRecord, previous: PaymentStatus | null): PaymentStatusChangedEvent => ({
  eventId: newId(),
  paymentId: p.id,
  orderId: p.orderId,
  status: p.status,
  previousStatus: previous,
  amountCents: p.amountCents,
  currency: p.currency,
  at: p.updatedAt,
});
