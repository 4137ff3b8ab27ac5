import { limitExceeded } from "../../kernel/index.ts";

/** `limitName` of a reservation refused for its total (the order module's setting that sets the bound). */
export const MAX_TOTAL_LIMIT_NAME = "ORDER_MAX_TOTAL_CENTS";

/**
 * Checks the total of a reservation at the prices it captures, before anything is written.
 * Sums incrementally and stops past the bound, so no intermediate value leaves the safe range.
 * @throws AppError `LIMIT_EXCEEDED` `{ limitName: "ORDER_MAX_TOTAL_CENTS", limit, totalCents }`
 *   when the total exceeds `maxTotalCents` (or is not a safe integer); nothing when it is undefined
 *   and the total is safe.
 */
export function checkReservationTotal(
  items: readonly { quantity: number; unitPriceCents: number }[],
  maxTotalCents: number | undefined,
): void {
  const max = maxTotalCents ?? Number.MAX_SAFE_INTEGER;
  let total = 0;
  for (const { quantity, unitPriceCents } of items) {
    total += quantity * unitPriceCents;
    if (!Number.isSafeInteger(total) || total > max) {
      throw limitExceeded(
        MAX_TOTAL_LIMIT_NAME,
        max,
        `the order total would exceed the maximum of ${max} cents`,
        Number.isSafeInteger(total) ? { totalCents: total } : {},
      );
    }
  }
}
