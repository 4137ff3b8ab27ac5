import { z } from "zod";
import { defineCommand, subjectsOf } from "../../../kernel/index.ts";

/**
 * Commands the catalog module serves (request/reply). Other modules import this file
 * (through `contract/index.ts`) and nothing else of the catalog. The schemas fix the shape of
 * each body (checked by the kernel at the bus boundary: a mismatch is `BAD_REQUEST`); the rules
 * (non-empty ids, quantities >= 1, no product twice, at most 100 lines) are the catalog's own
 * and answered `BAD_USER_INPUT`.
 */

/** One line of a reservation request. */
const reserveItem = z.object({
  productId: z.string(),
  /** Units, integer >= 1. */
  quantity: z.int(),
});
export type ReserveItem = z.infer<typeof reserveItem>;

const reserveStockRequest = z.object({
  /** Chosen by the caller (the order id), making the call idempotent. */
  reservationId: z.string(),
  items: z.array(reserveItem),
  /**
   * Largest allowed sum of quantity × unit price (integer minor units, >= 0), checked against
   * the prices this reservation captures; absent = no bound beyond safe integers.
   */
  maxTotalCents: z.int().optional(),
});
export type ReserveStockRequest = z.infer<typeof reserveStockRequest>;

const reservedItem = reserveItem.extend({
  /** Unit price at reservation time, integer minor units. */
  unitPriceCents: z.int(),
  currency: z.string(),
});
export type ReservedItem = z.infer<typeof reservedItem>;

const reserveStockReply = z.object({ reservationId: z.string(), items: z.array(reservedItem) });
export type ReserveStockReply = z.infer<typeof reserveStockReply>;

const releaseStockRequest = z.object({ reservationId: z.string() });
export type ReleaseStockRequest = z.infer<typeof releaseStockRequest>;

const releaseStockReply = z.object({
  /** True when this call returned stock; false if it was already released or committed or unknown. */
  released: z.boolean(),
});
export type ReleaseStockReply = z.infer<typeof releaseStockReply>;

/** The catalog's commands. */
export const CatalogCommands = {
  /**
   * Reserve stock for all items atomically (all or nothing), capturing the unit price.
   * Errors (AppError codes): `BAD_USER_INPUT` (empty items, quantity < 1, duplicate ids),
   * `NOT_FOUND` (details `{ productId }`), `OUT_OF_STOCK` (details `{ productId, requested, available }`),
   * `LIMIT_EXCEEDED` (details `{ limitName: "ORDER_MAX_TOTAL_CENTS", limit, totalCents }`: the
   * total at current prices exceeds `maxTotalCents`; checked in the reservation's transaction
   * before anything is written).
   * Idempotent per `reservationId`: repeating it returns the existing reservation.
   */
  reserveStock: defineCommand("catalog.stock.reserve", { request: reserveStockRequest, reply: reserveStockReply }),
  /**
   * Release a held reservation (stock goes back). Idempotent: releasing twice, or an unknown id,
   * returns `{ released: false }` the second time and never returns stock twice.
   */
  releaseStock: defineCommand("catalog.stock.release", { request: releaseStockRequest, reply: releaseStockReply }),
};

/** Subjects of {@link CatalogCommands}, by the same names. */
export const CatalogSubjects = subjectsOf(CatalogCommands);
