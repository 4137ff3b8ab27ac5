/** Events the order module publishes. */
export const OrderEvents = {
  /** An order was written (status PENDING, stock reserved and held). Payload {@link OrderCreatedEvent}. */
  created: "order.created",
  /**
   * An order's status changed. Payload {@link OrderStatusChangedEvent}. The catalog commits the
   * order's reservation on `PAID` and releases it on `CANCELLED` (both idempotent); the order
   * subgraph's `Subscription.orderStatusChanged` streams it to clients.
   */
  statusChanged: "order.status_changed",
} as const;

export interface OrderCreatedEvent {
  /** Event id (KSUID) for consumer deduplication. */
  eventId: string;
  orderId: string;
  accountId: string;
  /** The catalog reservation backing this order (equal to the order id). */
  reservationId: string;
  items: { productId: string; quantity: number; unitPriceCents: number; currency: string }[];
  totalCents: number;
  currency: string;
  createdAt: string;
}

/** Status of an order, as in the GraphQL enum `OrderStatus`. */
export type OrderStatusName = "PENDING" | "PAID" | "CANCELLED" | "PAYMENT_FAILED" | "SHIPPED";

export interface OrderStatusChangedEvent {
  /** Event id (KSUID) for consumer deduplication. */
  eventId: string;
  orderId: string;
  /** Owner of the order. */
  accountId: string;
  /** Status after the change. */
  status: OrderStatusName;
  /** Status before the change. */
  previousStatus: OrderStatusName;
  /** When the change was committed, ISO-8601 UTC. */
  at: string;
}
