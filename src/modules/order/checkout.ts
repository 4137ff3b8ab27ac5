import {
  AppError,
  badInput,
  ErrorCode,
  handOver,
  limitExceeded,
  newId,
  NoRespondersError,
  outboxEntry,
  REQUEST_ID_HEADER,
  type Headers,
  type Logger,
  type ModuleContext,
} from "../../kernel/index.ts";
import {
  CatalogCommands,
  type ReleaseStockRequest,
  type ReservedItem,
  type ReserveItem,
  type ReserveStockReply,
  type ReserveStockRequest,
} from "../catalog/contract/index.ts";
import { OrderEventTypes, type OrderCreatedEvent } from "./contract/index.ts";
import type { OrderItemRecord, OrderRecord, OrderStore } from "./storage/types.ts";
import { DEFAULT_ORDER_LIMITS, LimitNames, type OrderLimits } from "./limits.ts";
import { validateOrderItems, type OrderItemInput } from "./validation.ts";

/** What placing an order needs from the module context. */
export interface CheckoutDeps {
  store: OrderStore;
  call: ModuleContext["call"];
  emit: ModuleContext["emit"];
  /**
   * Reservation intents (see the order migration "reservation intents"): recorded before the
   * reservation is requested and dropped once the order is written, so that the sweeper
   * releases a reservation whose order was never written (crash, lost reply). Optional: test
   * doubles of the store have no intents table. `drop` is for failed checkouts only: a written
   * order's intent is deleted by `store.create` in the order's own transaction.
   * `add` with `pending` also enforces `ORDER_MAX_PENDING`: it counts the account's PENDING
   * orders plus its intents (orders being placed) and adds the intent only below the limit,
   * atomically per account (throws `LIMIT_EXCEEDED` otherwise). Without intents (test doubles)
   * that limit is not enforced.
   */
  intents?: {
    add(orderId: string, pending?: { accountId: string; maxPending: number }): Promise<void>;
    drop(orderId: string): Promise<void>;
  };
  /** Abuse limits and the order-total bound; default {@link DEFAULT_ORDER_LIMITS}. */
  limits?: OrderLimits;
}

/** What placing an order needs from the request. */
export interface CheckoutRequest {
  accountId: string;
  items: readonly OrderItemInput[];
  /** Headers of the subgraph request; the request id is forwarded on bus calls and events. */
  headers: Headers;
  logger: Logger;
}

/** The headers forwarded to the catalog and on events: the request id only (it needs no identity). */
const forwardHeaders = (headers: Headers): Headers => {
  const requestId = headers[REQUEST_ID_HEADER];
  return requestId ? { [REQUEST_ID_HEADER]: requestId } : {};
};

/**
 * Places an order: validate → reserve stock in the catalog (over the bus, keyed by the new
 * order id) → write order, lines and the `order.created` event (transactional outbox) in one
 * transaction. If anything fails after the reservation, it is released before the error
 * propagates, so a failed order holds no stock; if this process dies in between, the
 * reservation intent lets the sweeper release it (the order's transaction deletes the intent).
 *
 * Every limit is checked before stock is reserved: lines and units per line here, unpaid orders
 * per account with the intent, and the total by the catalog inside the reservation's
 * transaction (`maxTotalCents`), so a refused order reserves and writes nothing.
 *
 * @throws AppError `LIMIT_EXCEEDED` (`limitName` `ORDER_MAX_LINES`, `ORDER_MAX_LINE_QUANTITY`,
 *   `ORDER_MAX_PENDING` or `ORDER_MAX_TOTAL_CENTS`, with `limit`);
 *   `BAD_USER_INPUT` (see {@link validateOrderItems}; mixed currencies);
 *   the catalog's `NOT_FOUND` / `OUT_OF_STOCK` / `BAD_USER_INPUT` unchanged; bus errors
 *   (`BusTimeoutError`, `NoRespondersError`) when the catalog is unreachable; store errors.
 */
export async function placeOrder(deps: CheckoutDeps, req: CheckoutRequest): Promise<OrderRecord> {
  const limits = deps.limits ?? DEFAULT_ORDER_LIMITS;
  const items = validateOrderItems(req.items, limits);
  const headers = forwardHeaders(req.headers);
  const orderId = newId();

  const release = async (why: string): Promise<void> => {
    try {
      const body: ReleaseStockRequest = { reservationId: orderId };
      const r = await deps.call(CatalogCommands.releaseStock, handOver(body), { headers });
      req.logger.info({ orderId, released: r.released, why }, "reservation released");
    } catch (err) {
      // The original failure matters more to the caller; a stuck reservation is for operators.
      req.logger.error({ err, orderId, why }, "could not release reservation");
    }
  };

  // Before the reservation exists: if this process dies after the catalog reserved, the intent
  // tells the sweeper to release it.
  // The intent also counts against the account's unpaid orders (refused here: nothing reserved).
  await deps.intents?.add(orderId, { accountId: req.accountId, maxPending: limits.maxPending });
  // On failures only: `store.create` deletes the intent with the order it writes.
  const dropIntent = async (): Promise<void> => {
    // Best effort: a leftover intent is swept (and finds its order, or releases nothing twice).
    await deps.intents?.drop(orderId).catch((err: unknown) => req.logger.warn({ err, orderId }, "could not drop the reservation intent"));
  };

  let reserved: ReserveStockReply;
  try {
    // Own copies of the lines: the body is handed over (no JSON round trip in process), and
    // `items` is still needed below.
    // maxTotalCents: the catalog refuses a larger total in the transaction that captures the prices.
    const body: ReserveStockRequest = {
      reservationId: orderId,
      items: items.map((i) => ({ productId: i.productId, quantity: i.quantity })),
      maxTotalCents: limits.maxTotalCents,
    };
    // Not idempotent (no retry): a NoRespondersError then means no catalog instance received
    // this request, so nothing was reserved (outcomeUnknown). Were it ever marked idempotent, the
    // call policy still keeps that true: a retry finding nobody after an attempt that timed out
    // throws that timeout (call-policy.ts, `CallPolicy.execute`).
    reserved = await deps.call(CatalogCommands.reserveStock, handOver(body), { headers });
  } catch (err) {
    // A refusal (OUT_OF_STOCK, NOT_FOUND, ...) means the catalog reserved nothing. A transport
    // error (timeout) or an internal error leaves it unknown, so release just in case (release
    // is idempotent and final for unknown ids) and keep the intent: if this release does not
    // get through either, the sweeper releases after ORDER_INTENT_GRACE_S.
    if (outcomeUnknown(err)) await release("reserve call failed");
    else await dropIntent();
    throw err;
  }

  let order: OrderRecord;
  try {
    order = buildOrder(orderId, req.accountId, items, reserved.items, limits.maxTotalCents);
  } catch (err) {
    await release("reservation unusable");
    throw err;
  }

  const event: OrderCreatedEvent = {
    eventId: newId(),
    orderId: order.id,
    accountId: order.accountId,
    reservationId: order.id,
    items: order.items.map((i) => ({ ...i })),
    totalCents: order.totalCents,
    currency: order.currency,
    createdAt: order.createdAt,
  };
  try {
    // order.created goes to the outbox in the order's own transaction: published iff the order exists.
    // With an intent, the order is written only while it stands (not swept by the sweeper).
    await deps.store.create(order, [{ ...outboxEntry(OrderEventTypes.created, event), headers }], {
      requireIntent: deps.intents !== undefined,
    });
  } catch (err) {
    await release("order write failed");
    throw err;
  }
  return order;
}

/**
 * True when a failed reserve call may still have reserved: not a refusal by the catalog, and not
 * "no responders" (no attempt of the call reached a catalog instance during its whole wait; the
 * call policy throws NoRespondersError only then, see the reserve call in placeOrder).
 */
const outcomeUnknown = (err: unknown): boolean =>
  err instanceof AppError
    ? err.code === ErrorCode.INTERNAL || err.code === ErrorCode.SERVICE_UNAVAILABLE
    : !(err instanceof NoRespondersError);

/**
 * Builds the order from the requested lines and the catalog's reservation (unit prices).
 * @throws AppError `BAD_USER_INPUT` when lines have different currencies; `LIMIT_EXCEEDED` when
 *   the total exceeds `maxTotalCents` (a catalog that ignored the bound); Error when the reply
 *   does not match the request (a catalog bug).
 */
function buildOrder(
  id: string,
  accountId: string,
  requested: readonly ReserveItem[],
  reserved: readonly ReservedItem[],
  maxTotalCents: number,
): OrderRecord {
  const byProduct = new Map(reserved.map((r) => [r.productId, r]));
  const items: OrderItemRecord[] = requested.map(({ productId, quantity }) => {
    const r = byProduct.get(productId);
    if (!r || r.quantity !== quantity || !Number.isSafeInteger(r.unitPriceCents) || r.unitPriceCents < 0) {
      throw new Error(`catalog reservation does not match the request for product ${productId}`);
    }
    return { productId, quantity, unitPriceCents: r.unitPriceCents, currency: r.currency };
  });
  const currency = (items[0] as OrderItemRecord).currency;
  const other = items.find((i) => i.currency !== currency);
  if (other) throw badInput("all items of an order must have the same currency", { currencies: [currency, other.currency] });
  const totalCents = items.reduce((sum, i) => sum + i.quantity * i.unitPriceCents, 0);
  if (!Number.isSafeInteger(totalCents) || totalCents > maxTotalCents) {
    throw limitExceeded(LimitNames.maxTotalCents, maxTotalCents, `an order total may be at most ${maxTotalCents} cents`);
  }
  return { id, accountId, status: "PENDING", totalCents, currency, createdAt: new Date().toISOString(), items };
}
