import type { Headers, OutboxNotify, OutboxSource } from "../../../kernel/index.ts";
import type { ReleaseStockRequest, ReserveStockReply, ReserveStockRequest } from "../contract/index.ts";

/** A category row. */
export interface CategoryRecord {
  /** KSUID. */
  id: string;
  name: string;
}

/** A product row joined with its category's name (so `Product.category` needs no second query). */
export interface ProductRecord {
  /** KSUID. */
  id: string;
  name: string;
  description: string;
  /** Unit price, integer minor units. */
  priceCents: number;
  /** ISO 4217 code. */
  currency: string;
  /** Units available, >= 0. */
  stock: number;
  categoryId: string;
  categoryName: string;
  /** ISO-8601 UTC. */
  createdAt: string;
}

/**
 * Position of a product in one ordering, for keyset pagination: `name` ordering
 * (`key` = name) or relevance ordering (`key` = bm25 score, lower is better). Ties break on id.
 */
export type ProductPosition = { order: "name"; key: string; id: string } | { order: "rank"; key: number; id: string };

/** Filters of a product listing. */
export interface ProductFilter {
  /**
   * Search terms, already reduced to plain word tokens (letters and digits only); each matches
   * as a prefix, all must match. Empty or absent: no text filter.
   */
  terms?: readonly string[];
  categoryId?: string;
}

/** One page request. */
export interface ProductPageQuery extends ProductFilter {
  /** Page size, 0..100 (validated by the caller). */
  first: number;
  /** Continue strictly after this position; its `order` must match the query's ordering. */
  after?: ProductPosition;
}

/** One page: rows with their positions (for edge cursors) and whether more follow. */
export interface ProductPage {
  items: { product: ProductRecord; position: ProductPosition }[];
  hasNextPage: boolean;
}

/** A count that may stop early (see {@link CatalogStore.countProductsBounded}). */
export interface BoundedCount {
  /** The number of matches when `exact`, else a lower bound (there are more). */
  count: number;
  exact: boolean;
}

/** A product's stock after a committed change (what `catalog.stock_changed` announces). */
export interface StockLevel {
  productId: string;
  /** Units after the change. */
  stock: number;
}

/** Result of {@link CatalogStore.reserve}. */
export interface ReserveOutcome {
  reservation: ReserveStockReply;
  /** False when the reservation already existed (idempotent repeat: nothing changed). */
  created: boolean;
  /** Stock levels changed by this call (empty on a repeat). */
  changes: StockLevel[];
}

/** Result of {@link CatalogStore.release}. */
export interface ReleaseOutcome {
  released: boolean;
  /** Stock levels changed by this call (empty when nothing was released). */
  changes: StockLevel[];
}

/** What handling an `order.status_changed` event with status PAID did to the order's reservation. */
export type CommitOutcome =
  /** held → committed. */
  | "committed"
  /** The event id was processed before. */
  | "duplicate"
  /** The reservation was already committed (another event for it). */
  | "already-committed"
  /** The reservation was released before the order arrived (stock already returned). */
  | "released"
  /** No such reservation. */
  | "unknown";

/** A category to insert, with its products. */
export interface NewCategory {
  id: string;
  name: string;
  products: NewProduct[];
}

export interface NewProduct {
  id: string;
  name: string;
  description: string;
  /** Integer minor units. */
  priceCents: number;
  currency: string;
  /** Integer >= 0. */
  stock: number;
  /** ISO-8601 UTC. */
  createdAt: string;
}

/** A product to create through the admin API: a {@link NewProduct} in an existing category. */
export interface CreateProductRecord extends NewProduct {
  categoryId: string;
}

/** Changes of `updateProduct`: absent fields keep their value. Validated by the caller. */
export interface ProductChanges {
  name?: string;
  description?: string;
  /** Integer minor units, >= 0. */
  priceCents?: number;
}

/**
 * Persistence of the catalog: everything the resolvers and bus handlers need, on SQLite or
 * PostgreSQL (storage/store.ts). Money is integer cents throughout.
 */
export interface CatalogStore {
  /** Products by id, in no particular order; unknown ids are absent. One query for the batch. */
  productsByIds(ids: readonly string[]): Promise<ProductRecord[]>;
  /** Categories by id, in no particular order; unknown ids are absent. */
  categoriesByIds(ids: readonly string[]): Promise<CategoryRecord[]>;
  /** Every category, ordered by name. */
  listCategories(): Promise<CategoryRecord[]>;
  /** A page of products: by name without terms, by relevance with terms. */
  listProducts(query: ProductPageQuery): Promise<ProductPage>;
  /** Number of products matching the filter (all pages), exact (a broad search counts every match). */
  countProducts(filter: ProductFilter): Promise<number>;
  /**
   * Number of products matching the filter, exact up to `bound` matches: a search (`terms`)
   * matching more returns `{ count: bound, exact: false }` (a lower bound) after counting only
   * `bound + 1` matches. A listing without terms is always counted exactly.
   * @param bound integer ≥ 0.
   */
  countProductsBounded(filter: ProductFilter, bound: number): Promise<BoundedCount>;
  /**
   * The transactional outbox: every change below writes its events in its own transaction
   * (`catalog.stock_changed` per product whose stock changed on reserve, release and setStock;
   * `catalog.product_changed` on createProduct, updateProduct and setStock), with
   * `opts.headers`. The kernel relays them. The admin methods resolve once the events were
   * published (so a cache listening to them is invalidated before the mutation answers).
   */
  readonly outbox: OutboxSource & OutboxNotify;
  /**
   * Reserves every item atomically, capturing unit prices; idempotent per reservation id.
   * Input must already be validated (non-empty, quantities >= 1, distinct products).
   * @throws AppError NOT_FOUND `{ productId }`, OUT_OF_STOCK `{ productId, requested, available }`,
   *   CONFLICT when the reservation id was used and released before. Nothing changes on error.
   */
  reserve(req: ReserveStockRequest, opts?: CatalogEventOptions): Promise<ReserveOutcome>;
  /**
   * Returns the stock of a `held` reservation and marks it released. Release is final: an
   * unknown id is recorded as released (without items), so a reserve of that id arriving later
   * is refused with CONFLICT; a released or committed one is left as is. With `opts.eventId`
   * (the release an `order.status_changed` event asks for), the id is recorded in the inbox in the
   * same transaction and a repeat of it changes nothing (`released: false`).
   */
  release(req: ReleaseStockRequest, opts?: ReleaseOptions): Promise<ReleaseOutcome>;
  /**
   * Marks a held reservation committed (its order was paid), deduplicating by `eventId` (the
   * inbox, in the same transaction).
   */
  commit(reservationId: string, eventId: string): Promise<CommitOutcome>;
  /**
   * Inserts the given catalog in one transaction, only if there are no products yet.
   * @returns the number of products inserted (0 when the catalog was not empty).
   */
  seedIfEmpty(categories: readonly NewCategory[]): Promise<number>;
  /**
   * Inserts a category.
   * @throws AppError CONFLICT `{ name }` when a category of that name exists (unique constraint).
   */
  createCategory(category: CategoryRecord): Promise<CategoryRecord>;
  /**
   * Inserts a product (input validated by the caller); it is searchable as soon as this resolves.
   * @returns the stored product (with its category's name).
   * @throws AppError NOT_FOUND `{ categoryId }` when the category does not exist.
   */
  createProduct(product: CreateProductRecord, opts?: CatalogEventOptions): Promise<ProductRecord>;
  /**
   * Applies `changes` (the search index follows name and description in the same transaction).
   * @returns the product after the change, or null when `id` is unknown.
   */
  updateProduct(id: string, changes: ProductChanges, opts?: CatalogEventOptions): Promise<ProductRecord | null>;
  /**
   * Sets a product's stock to `stock` units (>= 0), whatever reservations did before.
   * @returns the product after the change, or null when `id` is unknown.
   */
  setStock(id: string, stock: number, opts?: CatalogEventOptions): Promise<ProductRecord | null>;
  /**
   * Forgets inbox marks (processed event ids) older than `olderThanMs` (default 7 days).
   * @returns marks deleted.
   */
  pruneInbox(olderThanMs?: number): Promise<number>;
  /** Closes the underlying connection. */
  close(): Promise<void>;
}

/** What a store method writes to the outbox with its change (see `CatalogStore`). */
export interface CatalogEventOptions {
  /** Headers of the events (the request id only). */
  headers?: Headers;
}

/** Options of {@link CatalogStore.release}. */
export interface ReleaseOptions extends CatalogEventOptions {
  /**
   * Id of the event that asks for the release (`order.status_changed`): recorded in the inbox
   * atomically with the release, so a redelivery of it is skipped. Absent for direct calls.
   */
  eventId?: string;
}
