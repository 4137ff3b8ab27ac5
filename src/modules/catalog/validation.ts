import { badInput } from "../../kernel/index.ts";
import type { ReleaseStockRequest, ReserveStockRequest } from "./contract/index.ts";

/** Most lines one reservation may have. */
export const MAX_RESERVE_ITEMS = 100;
/** Longest accepted reservation or product id, in characters. */
const MAX_ID_LENGTH = 128;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isId = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= MAX_ID_LENGTH;

/**
 * Checks a bus request body (untrusted JSON) against {@link ReserveStockRequest}: a
 * reservation id, 1..{@link MAX_RESERVE_ITEMS} items, each a product id with an integer
 * quantity >= 1, no product twice. Returns a clean copy (unknown fields dropped).
 * @throws AppError BAD_USER_INPUT naming the first problem.
 */
export function parseReserveRequest(body: unknown): ReserveStockRequest {
  if (!isObject(body)) throw badInput("reserve request must be an object");
  const reservationId = body["reservationId"];
  if (!isId(reservationId)) throw badInput("reservationId must be a non-empty string");
  const items = body["items"];
  if (!Array.isArray(items) || items.length === 0) throw badInput("items must be a non-empty list");
  if (items.length > MAX_RESERVE_ITEMS) throw badInput(`at most ${MAX_RESERVE_ITEMS} items per reservation`, { count: items.length });
  const seen = new Set<string>();
  const clean = items.map((item: unknown, index) => {
    if (!isObject(item)) throw badInput("each item must be an object", { index });
    const productId = item["productId"];
    const quantity = item["quantity"];
    if (!isId(productId)) throw badInput("each item needs a productId", { index });
    if (typeof quantity !== "number" || !Number.isSafeInteger(quantity) || quantity < 1) {
      throw badInput("quantity must be an integer of at least 1", { productId, quantity: quantity ?? null });
    }
    // Duplicates would make the per-item stock check and the stored lines ambiguous.
    if (seen.has(productId)) throw badInput("each product may appear once; merge the quantities", { productId });
    seen.add(productId);
    return { productId, quantity };
  });
  return { reservationId, items: clean };
}

/**
 * Checks a bus request body against {@link ReleaseStockRequest}.
 * @throws AppError BAD_USER_INPUT when the reservation id is missing.
 */
export function parseReleaseRequest(body: unknown): ReleaseStockRequest {
  const reservationId = isObject(body) ? body["reservationId"] : undefined;
  if (!isId(reservationId)) throw badInput("reservationId must be a non-empty string");
  return { reservationId };
}
