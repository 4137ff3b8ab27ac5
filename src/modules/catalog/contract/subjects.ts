/**
 * Bus subjects the catalog module serves (request/reply). Other modules import this file
 * (through `contract/index.ts`) and nothing else of the catalog.
 */
export const CatalogSubjects = {
  /**
   * Reserve stock for all items atomically (all or nothing), capturing the unit price.
   * Request {@link ReserveStockRequest} → reply {@link ReserveStockReply}.
   * Errors (AppError codes): `BAD_USER_INPUT` (empty items, quantity < 1, duplicate ids),
   * `NOT_FOUND` (details `{ productId }`), `OUT_OF_STOCK` (details `{ productId, requested, available }`),
   * `LIMIT_EXCEEDED` (details `{ limitName: "ORDER_MAX_TOTAL_CENTS", limit, totalCents }`: the
   * total at current prices exceeds `maxTotalCents`; checked in the reservation's transaction
   * before anything is written).
   * Idempotent per `reservationId`: repeating it returns the existing reservation.
   */
  reserveStock: "catalog.stock.reserve",
  /**
   * Release a held reservation (stock goes back). Request {@link ReleaseStockRequest} →
   * reply {@link ReleaseStockReply}. Idempotent: releasing twice, or an unknown id, returns
   * `{ released: false }` the second time and never returns stock twice.
   */
  releaseStock: "catalog.stock.release",
} as const;

/** One line of a reservation request. */
export interface ReserveItem {
  productId: string;
  /** Units, integer >= 1. */
  quantity: number;
}

export interface ReserveStockRequest {
  /** Chosen by the caller (the order id), making the call idempotent. */
  reservationId: string;
  items: ReserveItem[];
  /**
   * Largest allowed sum of quantity × unit price (integer minor units, >= 0), checked against
   * the prices this reservation captures; absent = no bound beyond safe integers.
   */
  maxTotalCents?: number;
}

export interface ReservedItem extends ReserveItem {
  /** Unit price at reservation time, integer minor units. */
  unitPriceCents: number;
  currency: string;
}

export interface ReserveStockReply {
  reservationId: string;
  items: ReservedItem[];
}

export interface ReleaseStockRequest {
  reservationId: string;
}

export interface ReleaseStockReply {
  /** True when this call returned stock; false if it was already released or committed or unknown. */
  released: boolean;
}
