import {
  AppError,
  ErrorCode,
  forbidden,
  notFound,
  REQUEST_ID_HEADER,
  unauthenticated,
  type Headers,
  type Identity,
  type Logger,
  type ModuleContext,
} from "../../kernel/index.ts";
import { CatalogCommands, type ReleaseStockRequest } from "../catalog/contract/index.ts";
import type { OrderRecord, OrderStatus, OrderStore } from "./storage/types.ts";

/**
 * Order status transitions. The lifecycle (every other change is refused with `INVALID_STATE`):
 *
 * ```
 * PENDING ──► PAID ──► SHIPPED
 *    │  └───► PAYMENT_FAILED
 *    └──────────┴──► CANCELLED
 * ```
 *
 * Stock: the catalog holds the order's reservation while the order is PENDING, commits it when
 * the order becomes PAID and returns it when the order becomes PAYMENT_FAILED or CANCELLED
 * (driven by `order.status_changed`; those two changes also release synchronously so the stock
 * is back when the mutation returns). A PAYMENT_FAILED order can never be paid again, so it
 * holds nothing, whether the checkout saga or an admin failed it.
 */
export const TRANSITIONS: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  PENDING: ["PAID", "PAYMENT_FAILED", "CANCELLED"],
  // Not back to PAID: the saga returns a failed order's stock, so PAID would sell units the
  // catalog no longer holds for it. A customer who still wants the goods places a new order.
  PAYMENT_FAILED: ["CANCELLED"],
  PAID: ["SHIPPED"],
  SHIPPED: [],
  CANCELLED: [],
};

/** Statuses from which a customer may cancel their own order. */
export const CANCELLABLE: readonly OrderStatus[] = ["PENDING", "PAYMENT_FAILED"];

/** Role allowed to set any order's status and to act on other accounts' orders. */
export const ADMIN_ROLE = "admin";

/** What a status change needs from the module context. */
export interface TransitionDeps {
  store: OrderStore;
  call: ModuleContext["call"];
  emit: ModuleContext["emit"];
}

/** The request side of a status change. */
export interface TransitionRequest {
  orderId: string;
  to: OrderStatus;
  /** Restricts the statuses the change may start from (default: every status {@link TRANSITIONS} allows). */
  from?: readonly OrderStatus[];
  /** Headers of the subgraph request; the request id is forwarded on the release call and the event. */
  headers: Headers;
  logger: Logger;
}

const isAdmin = (identity: Identity): boolean => identity.roles.includes(ADMIN_ROLE);

const forwardHeaders = (headers: Headers): Headers => {
  const requestId = headers[REQUEST_ID_HEADER];
  return requestId ? { [REQUEST_ID_HEADER]: requestId } : {};
};

/**
 * Changes an order's status (compare and set: a concurrent change of the same order makes
 * one of them fail with `INVALID_STATE`) and writes `order.status_changed` in the same
 * transaction (outbox: the kernel's relay publishes it after the commit, even across a crash),
 * then on `CANCELLED` or `PAYMENT_FAILED` releases the stock reservation (`catalog.stock.release`,
 * idempotent: the saga has usually released already).
 * Use this for every status change (payment included) so the catalog and subscribers hear
 * about it.
 *
 * A failed release cannot undo the committed change: it is logged, and the catalog also
 * releases on the `CANCELLED` and `PAYMENT_FAILED` events, so it is repaired when the event is consumed.
 *
 * @throws AppError `NOT_FOUND` (no such order), `INVALID_STATE` (details `{ status, requested }`:
 *   the change is not allowed from the order's current status); store errors.
 */
export async function changeOrderStatus(deps: TransitionDeps, req: TransitionRequest): Promise<OrderRecord> {
  const allowed = (Object.keys(TRANSITIONS) as OrderStatus[]).filter(
    (s) => TRANSITIONS[s].includes(req.to) && (!req.from || req.from.includes(s)),
  );
  const headers = forwardHeaders(req.headers);
  // The store writes order.status_changed in the transaction of the change (outbox).
  const outcome = await deps.store.transition(req.orderId, allowed, req.to, { headers });
  if (!outcome.changed) {
    if (!outcome.order) throw notFound("order", req.orderId);
    throw new AppError(ErrorCode.INVALID_STATE, `an order in status ${outcome.order.status} cannot become ${req.to}`, {
      status: outcome.order.status,
      requested: req.to,
    });
  }
  const { order, previous } = outcome;
  req.logger.info({ orderId: order.id, from: previous, to: order.status }, "order status changed");

  if (order.status === "CANCELLED" || order.status === "PAYMENT_FAILED") {
    try {
      const body: ReleaseStockRequest = { reservationId: order.id };
      const r = await deps.call(CatalogCommands.releaseStock, body, { headers });
      req.logger.info({ orderId: order.id, released: r.released, status: order.status }, "reservation released");
    } catch (err) {
      // The status is changed either way; the catalog releases again on the event below.
      req.logger.error({ err, orderId: order.id }, "could not release the reservation now; the event will");
    }
  }

  return order;
}

/**
 * `Mutation.cancelOrder`: the owner (or an admin) cancels an order that is PENDING or
 * PAYMENT_FAILED; its stock goes back to the catalog.
 * @throws AppError `UNAUTHENTICATED` (anonymous), `NOT_FOUND` (unknown, or another account's
 *   order for a non-admin: ids cannot be probed), `INVALID_STATE` (already paid, shipped or cancelled).
 */
export async function cancelOrder(
  deps: TransitionDeps,
  req: { orderId: string; identity: Identity | null; headers: Headers; logger: Logger },
): Promise<OrderRecord> {
  if (!req.identity) throw unauthenticated();
  const order = await deps.store.byId(req.orderId);
  if (!order || (order.accountId !== req.identity.accountId && !isAdmin(req.identity))) throw notFound("order", req.orderId);
  return changeOrderStatus(deps, { orderId: order.id, to: "CANCELLED", from: CANCELLABLE, headers: req.headers, logger: req.logger });
}

/**
 * `Mutation.setOrderStatus`: admin only, any change {@link TRANSITIONS} allows.
 * @throws AppError `UNAUTHENTICATED`, `FORBIDDEN` (not an admin), `NOT_FOUND`, `INVALID_STATE`.
 */
export async function setOrderStatus(
  deps: TransitionDeps,
  req: { orderId: string; status: OrderStatus; identity: Identity | null; headers: Headers; logger: Logger },
): Promise<OrderRecord> {
  if (!req.identity) throw unauthenticated();
  if (!isAdmin(req.identity)) throw forbidden("setting an order's status needs the admin role");
  return changeOrderStatus(deps, { orderId: req.orderId, to: req.status, headers: req.headers, logger: req.logger });
}
