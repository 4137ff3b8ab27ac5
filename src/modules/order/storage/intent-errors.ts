import { AppError, ErrorCode } from "../../../kernel/index.ts";

/**
 * The error of an order write that came too late: its reservation intent was swept (the order
 * was not written within `ORDER_INTENT_GRACE_S`, so the sweeper took the intent over and
 * releases the stock). The order's transaction rolls back; nothing is written and nothing stays
 * reserved. `SERVICE_UNAVAILABLE`: the client may simply place the order again.
 */
export function orderWriteTooLate(orderId: string): AppError {
  return new AppError(
    ErrorCode.SERVICE_UNAVAILABLE,
    "the order could not be completed in time and was not placed; nothing is reserved, please try again",
    {
      orderId,
      reason: "RESERVATION_EXPIRED",
    },
  );
}
