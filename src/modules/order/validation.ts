import { badInput } from "../../kernel/index.ts";
import type { ReserveItem } from "../catalog/contract/index.ts";

/** One line of `CreateOrderInput` as received from GraphQL. */
export interface OrderItemInput {
  productId: string;
  quantity: number;
}

/** Most lines one order may have: bounds the work (and the reservation) one request causes. */
export const MAX_ORDER_LINES = 100;

/**
 * Validates order lines before anything is reserved or written.
 * @returns the lines as reservation items, in input order.
 * @throws AppError `BAD_USER_INPUT`: no lines, more than {@link MAX_ORDER_LINES}, an empty
 *   product id, a quantity that is not an integer >= 1 (details `{ productId, quantity }`), or
 *   a product given twice (details `{ productId }`; rejected rather than merged, since two
 *   lines for one product are more likely a client bug than intent).
 */
export function validateOrderItems(items: readonly OrderItemInput[]): ReserveItem[] {
  if (items.length === 0) throw badInput("an order needs at least one item");
  if (items.length > MAX_ORDER_LINES) throw badInput(`an order may have at most ${MAX_ORDER_LINES} items`, { count: items.length });
  const seen = new Set<string>();
  for (const { productId, quantity } of items) {
    if (productId.trim() === "") throw badInput("productId must not be empty");
    if (!Number.isSafeInteger(quantity) || quantity < 1) {
      throw badInput("quantity must be an integer of at least 1", { productId, quantity });
    }
    if (seen.has(productId)) throw badInput(`product ${productId} appears more than once`, { productId });
    seen.add(productId);
  }
  return items.map(({ productId, quantity }) => ({ productId, quantity }));
}
