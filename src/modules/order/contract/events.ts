import { z } from "zod";
import { defineEvent, subjectsOf } from "../../../kernel/index.ts";

const orderCreatedEvent = z.object({
  /** Event id (KSUID) for consumer deduplication. */
  eventId: z.string(),
  orderId: z.string(),
  accountId: z.string(),
  /** The catalog reservation backing this order (equal to the order id). */
  reservationId: z.string(),
  items: z.array(z.object({ productId: z.string(), quantity: z.int(), unitPriceCents: z.int(), currency: z.string() })),
  totalCents: z.int(),
  currency: z.string(),
  /** ISO-8601 UTC. */
  createdAt: z.string(),
});
export type OrderCreatedEvent = z.infer<typeof orderCreatedEvent>;

/** Status of an order, as in the GraphQL enum `OrderStatus`. */
const orderStatusName = z.enum(["PENDING", "PAID", "CANCELLED", "PAYMENT_FAILED", "SHIPPED"]);
export type OrderStatusName = z.infer<typeof orderStatusName>;

const orderStatusChangedEvent = z.object({
  /** Event id (KSUID) for consumer deduplication. */
  eventId: z.string(),
  orderId: z.string(),
  /** Owner of the order. */
  accountId: z.string(),
  /** Status after the change. */
  status: orderStatusName,
  /** Status before the change. */
  previousStatus: orderStatusName,
  /** When the change was committed, ISO-8601 UTC. */
  at: z.string(),
});
export type OrderStatusChangedEvent = z.infer<typeof orderStatusChangedEvent>;

/** Events the order module publishes (through its transactional outbox). */
export const OrderEventTypes = {
  /** An order was written (status PENDING, stock reserved and held). */
  created: defineEvent("order.created", orderCreatedEvent),
  /**
   * An order's status changed. The catalog commits the order's reservation on `PAID` and
   * releases it on `CANCELLED` (both idempotent); the order subgraph's
   * `Subscription.orderStatusChanged` streams it to clients.
   */
  statusChanged: defineEvent("order.status_changed", orderStatusChangedEvent),
};

/** Subjects of {@link OrderEventTypes}, by the same names. */
export const OrderEvents = subjectsOf(OrderEventTypes);
