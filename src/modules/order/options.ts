import { defineOptions, int, type OptionsOf, option } from "../../kernel/index.ts";
import { paymentProviderTimeoutMs } from "../payment/contract/index.ts";

/**
 * The order module's options: the payment window, the abuse limits of ordering (see
 * limits.ts) and the reservation grace of the intents sweeper (intents.ts).
 */
export const orderOptions = defineOptions("order", {
  orderPaymentTimeoutS: option(int(1, 604_800), {
    env: "ORDER_PAYMENT_TIMEOUT_S",
    flag: "--order-payment-timeout-s",
    default: "600",
    allowed: "1-604800 (seconds)",
    describe: "Payment window: PENDING orders not paid within this time are cancelled and their stock released (periodic sweeper).",
  }),
  orderMaxLineQuantity: option(int(1, 1_000_000), {
    env: "ORDER_MAX_LINE_QUANTITY",
    flag: "--order-max-line-quantity",
    default: "10",
    allowed: "1-1000000 (units)",
    describe: "Most units of one product per order line; more: createOrder fails with LIMIT_EXCEEDED before any stock is reserved.",
  }),
  orderMaxLines: option(int(1, 100), {
    env: "ORDER_MAX_LINES",
    flag: "--order-max-lines",
    default: "50",
    allowed: "1-100 (lines)",
    describe: "Most lines (distinct products) per order; more: LIMIT_EXCEEDED, nothing reserved.",
  }),
  orderMaxPending: option(int(1, 1_000_000), {
    env: "ORDER_MAX_PENDING",
    flag: "--order-max-pending",
    default: "3",
    allowed: "1-1000000 (orders)",
    describe:
      "Most unpaid orders (PENDING, or being placed) per account; one more createOrder fails with LIMIT_EXCEEDED, nothing reserved. Pay or cancel one to order again.",
  }),
  orderMaxTotalCents: option(int(1, 2_147_483_647), {
    env: "ORDER_MAX_TOTAL_CENTS",
    flag: "--order-max-total-cents",
    default: "100000000",
    allowed: "1-2147483647 (minor units)",
    describe:
      "Largest order total (1,000,000.00 by default); a larger order fails with LIMIT_EXCEEDED, checked by the catalog in the reservation's transaction before anything is written. At most 2^31 - 1, so every amount fits Money.cents (GraphQL Int).",
  }),
  orderIntentGraceS: option(int(1, 86_400), {
    env: "ORDER_INTENT_GRACE_S",
    flag: "--order-intent-grace-s",
    default: "30",
    allowed: "1-86400 (seconds; above the catalog.stock.reserve timeout, 5 s unless BUS_TIMEOUTS says otherwise)",
    describe:
      "Stock reserved for an order that was not written within this time (the process died, a reply was lost) is released by the sweeper, retried until the catalog answers; such a late order write then fails with SERVICE_UNAVAILABLE.",
  }),
  /** The payment module's provider timeout: checkout's `payment.*` calls wait a little longer (saga.ts). */
  paymentProviderTimeoutMs,
});

/** The order module's options, typed (`ctx.options`). */
export type OrderOptions = OptionsOf<typeof orderOptions>;
