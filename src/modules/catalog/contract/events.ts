/** Events the catalog module publishes (pub/sub subjects and payloads). */
export const CatalogEvents = {
  /** A product's stock level changed (reservation, release, admin change). Payload {@link StockChangedEvent}. */
  stockChanged: "catalog.stock_changed",
  /**
   * A product was created or changed by an admin mutation (`createProduct`, `updateProduct`,
   * `setStock`). Payload {@link ProductChangedEvent}. Durable (JetStream in split mode);
   * consumers (e.g. gateway caches) drop what they hold for `productId`.
   */
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

/** What a {@link ProductChangedEvent} changed. */
export type ProductChangeKind =
  /** `createProduct`: a new product exists. */
  | "created"
  /** `updateProduct`: name, description and/or price changed. */
  | "updated"
  /** `setStock`: the stock level was set (a `catalog.stock_changed` follows too). */
  | "stock";

export interface ProductChangedEvent {
  /** Event id (KSUID) for consumer deduplication. */
  eventId: string;
  productId: string;
  change: ProductChangeKind;
  /** ISO-8601 UTC; when the change was committed. */
  occurredAt: string;
}
