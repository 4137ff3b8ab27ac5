import { badInput, limitExceeded } from "../../kernel/index.ts";
import type { ReserveItem } from "../catalog/contract/index.ts";
import { DEFAULT_ORDER_LIMITS, LimitNames, type OrderLimits } from "./limits.ts";

/** One line of `CreateOrderInput` as received from GraphQL. */
export interface OrderItemInput {
  productId: string;
  quantity: number;
}

/**
 * Validates order lines before anything is reserved or written.
 * @param limits lines per order and units per line (default {@link DEFAULT_ORDER_LIMITS}).
 * @returns the lines as reservation items, in input order.
 * @throws AppError `LIMIT_EXCEEDED` (`limitName` `ORDER_MAX_LINES` with `{ count }`, or
 *   `ORDER_MAX_LINE_QUANTITY` with `{ productId, quantity }`; plus `limit`);
 *   `BAD_USER_INPUT`: no lines, an empty product id, a quantity that is not an integer >= 1
 *   (details `{ productId, quantity }`), or a product given twice (details `{ productId }`;
 *   rejected rather than merged, since two lines for one product are more likely a client bug
 *   than intent).
 */
export function validateOrderItems(
  items: readonly OrderItemInput[],
  limits: Pick<OrderLimits, "maxLines" | "maxLineQuantity"> = DEFAULT_ORDER_LIMITS,
): ReserveItem[] {
  if (items.length === 0) throw badInput("an order needs at least one item");
  if (items.length > limits.maxLines) {
    throw limitExceeded(LimitNames.maxLines, limits.maxLines, `an order may have at most ${limits.maxLines} lines`, {
      count: items.length,
    });
  }
  const seen = new Set<string>();
  for (const { productId, quantity } of items) {
    if (productId.trim() === "") throw badInput("productId must not be empty");
    if (!Number.isSafeInteger(quantity) || quantity < 1) {
      throw badInput("quantity must be an integer of at least 1", { productId, quantity });
    }
    if (quantity > limits.maxLineQuantity) {
      throw limitExceeded(
        LimitNames.maxLineQuantity,
        limits.maxLineQuantity,
        `at most ${limits.maxLineQuantity} units of one product per order`,
        { productId, quantity },
      );
    }
    if (seen.has(productId)) throw badInput(`product ${productId} appears more than once`, { productId });
    seen.add(productId);
  }
  return items.map(({ productId, quantity }) => ({ productId, quantity }));
}
