/** Events the catalog module publishes (pub/sub subjects and payloads). */
export const CatalogEvents = {
  /** A product's stock level changed (reservation, release, admin change). Payload {@link StockChangedEvent}. */
  stockChanged: "catalog.stock_changed",
  /** A product's data changed (name, description, price). Payload {@link ProductChangedEvent}. */
  productChanged: "catalog.product_changed",
} as const;

export interface StockChangedEvent {
  /** Event id (KSUID) for consumer deduplication. */
  eventId: string;
  productId: string;
  /** Stock after the change, units. */
  stock: number;
  occurredAt: string;
}

export interface ProductChangedEvent {
  eventId: string;
  productId: string;
  occurredAt: string;
}
