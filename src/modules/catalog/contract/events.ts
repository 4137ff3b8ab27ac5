import { z } from "zod";
import { defineEvent, subjectsOf } from "../../../kernel/index.ts";

const stockChangedEvent = z.object({
  /** Event id (KSUID) for consumer deduplication. */
  eventId: z.string(),
  productId: z.string(),
  /** Stock after the change, units. */
  stock: z.int(),
  /** ISO-8601 UTC. */
  occurredAt: z.string(),
});
export type StockChangedEvent = z.infer<typeof stockChangedEvent>;

/**
 * What a {@link ProductChangedEvent} changed: `created` (`createProduct`: a new product exists),
 * `updated` (`updateProduct`: name, description and/or price changed), `stock` (`setStock`: the
 * stock level was set; a `catalog.stock_changed` follows too).
 */
const productChangeKind = z.enum(["created", "updated", "stock"]);
export type ProductChangeKind = z.infer<typeof productChangeKind>;

const productChangedEvent = z.object({
  /** Event id (KSUID) for consumer deduplication. */
  eventId: z.string(),
  productId: z.string(),
  change: productChangeKind,
  /** ISO-8601 UTC; when the change was committed. */
  occurredAt: z.string(),
});
export type ProductChangedEvent = z.infer<typeof productChangedEvent>;

/** Events the catalog module publishes (through its transactional outbox). */
export const CatalogEventTypes = {
  /** A product's stock level changed (reservation, release, admin change). */
  stockChanged: defineEvent("catalog.stock_changed", stockChangedEvent),
  /**
   * A product was created or changed by an admin mutation (`createProduct`, `updateProduct`,
   * `setStock`). Durable (JetStream in split mode); consumers (e.g. gateway caches) drop what
   * they hold for `productId`.
   */
  productChanged: defineEvent("catalog.product_changed", productChangedEvent),
};

/** Subjects of {@link CatalogEventTypes}, by the same names. */
export const CatalogEvents = subjectsOf(CatalogEventTypes);
