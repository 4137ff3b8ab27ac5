import { newId } from "../../../kernel/index.ts";
import type { OrderStatusChangedEvent } from "../contract/index.ts";
import type { OrderStatus } from "./types.ts";

/** The `order.status_changed` event of a committed change of order `orderId`. */
export const statusChangedEvent = (
  orderId: string,
  accountId: string,
  status: OrderStatus,
  previous: OrderStatus,
): OrderStatusChangedEvent => ({
  eventId: newId(),
  orderId,
  accountId,
  status,
  previousStatus: previous,
  at: new Date().toISOString(),
});
