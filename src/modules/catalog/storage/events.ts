import { newId, outboxEntry, type OutboxEntry } from "../../../kernel/index.ts";
import { CatalogEventTypes, type ProductChangedEvent, type ProductChangeKind, type StockChangedEvent } from "../contract/index.ts";
import type { StockLevel } from "./types.ts";

/** An event with its subject, as the stores write it to the outbox. */
export type CatalogOutboxEntry = OutboxEntry<StockChangedEvent> | OutboxEntry<ProductChangedEvent>;

/** One `catalog.stock_changed` per product whose stock changed. */
export const stockChangedEntries = (changes: readonly StockLevel[], occurredAt = new Date().toISOString()): CatalogOutboxEntry[] =>
  changes.map((c) => outboxEntry(CatalogEventTypes.stockChanged, { eventId: newId(), productId: c.productId, stock: c.stock, occurredAt }));

/** A `catalog.product_changed` of `productId`. */
export const productChangedEntry = (
  productId: string,
  change: ProductChangeKind,
  occurredAt = new Date().toISOString(),
): CatalogOutboxEntry => outboxEntry(CatalogEventTypes.productChanged, { eventId: newId(), productId, change, occurredAt });
