/** Events the order module publishes. */
export const OrderEvents = {
  /** An order was written. Payload {@link OrderCreatedEvent}. The catalog commits the reservation on it. */
  created: "order.created",
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
