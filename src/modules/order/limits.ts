import { defaultsOf } from "../../kernel/index.ts";
import { orderOptions } from "./options.ts";

/**
 * Abuse limits of ordering (issue: one account could reserve the whole catalog in one call).
 * Each is an option of the order module (`options.ts`); a refusal is `LIMIT_EXCEEDED` with
 * `extensions.limitName` (the option's variable name) and `extensions.limit`, and reserves nothing.
 */
export interface OrderLimits {
  /** Most units of one product in one line (`ORDER_MAX_LINE_QUANTITY`). */
  maxLineQuantity: number;
  /** Most lines in one order (`ORDER_MAX_LINES`; the catalog reserves at most 100 lines). */
  maxLines: number;
  /** Most unpaid orders (PENDING, or being placed) per account (`ORDER_MAX_PENDING`). */
  maxPending: number;
  /** Largest order total, integer minor units, <= 2^31 - 1 (`ORDER_MAX_TOTAL_CENTS`). */
  maxTotalCents: number;
}

/** The `limitName` of each limit in `LIMIT_EXCEEDED` errors: the variable that configures it. */
export const LimitNames = {
  maxLineQuantity: "ORDER_MAX_LINE_QUANTITY",
  maxLines: "ORDER_MAX_LINES",
  maxPending: "ORDER_MAX_PENDING",
  maxTotalCents: "ORDER_MAX_TOTAL_CENTS",
} as const satisfies Record<keyof OrderLimits, string>;

/** The order limits of the order module's options. */
export const orderLimitsOf = (c: {
  orderMaxLineQuantity: number;
  orderMaxLines: number;
  orderMaxPending: number;
  orderMaxTotalCents: number;
}): OrderLimits => ({
  maxLineQuantity: c.orderMaxLineQuantity,
  maxLines: c.orderMaxLines,
  maxPending: c.orderMaxPending,
  maxTotalCents: c.orderMaxTotalCents,
});

/** The declared defaults of the limit options (used when a caller passes no limits). */
export const DEFAULT_ORDER_LIMITS: Readonly<OrderLimits> = orderLimitsOf(defaultsOf(orderOptions));
