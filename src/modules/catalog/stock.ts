import { handOver, REQUEST_ID_HEADER, type Headers, type ModuleContext } from "../../kernel/index.ts";
import { OrderEventTypes } from "../order/contract/index.ts";
import { CatalogCommands } from "./contract/index.ts";
import type { CatalogStore } from "./storage/types.ts";
import { parseReleaseRequest, parseReserveRequest } from "./validation.ts";

/**
 * Wires the catalog's stock handling to the bus: serves reserve and release, consumes
 * `order.status_changed` (commits the reservation on PAID, releases it on CANCELLED), and
 * publishes `catalog.stock_changed` once per product after each committed change.
 */
export function serveStock(ctx: ModuleContext, store: CatalogStore): void {
  // catalog.stock_changed is written by the store in the transaction of each stock change
  // (outbox), with the request id of the call that caused it.
  const eventHeaders = (requestHeaders: Headers): { headers: Headers } => {
    const requestId = requestHeaders[REQUEST_ID_HEADER];
    return { headers: requestId ? { [REQUEST_ID_HEADER]: requestId } : {} };
  };

  ctx.serve(CatalogCommands.reserveStock, async (body, meta) => {
    const req = parseReserveRequest(body);
    const outcome = await store.reserve(req, eventHeaders(meta.headers));
    if (outcome.created) meta.logger.debug({ reservationId: req.reservationId, items: req.items.length }, "stock reserved");
    // Built per call by the store (never cached): in process the order module gets it as is.
    return handOver(outcome.reservation);
  });

  ctx.serve(CatalogCommands.releaseStock, async (body, meta) => {
    const req = parseReleaseRequest(body);
    const outcome = await store.release(req, eventHeaders(meta.headers));
    if (outcome.released) meta.logger.debug({ reservationId: req.reservationId }, "reservation released");
    return handOver({ released: outcome.released });
  });

  // Reservation lifecycle: held while the order is PENDING, committed when it is PAID,
  // returned when it is PAYMENT_FAILED or CANCELLED. Both are idempotent, as at-least-once
  // delivery needs: the event id is recorded in the catalog's inbox in the transaction of the
  // commit or release, so a redelivered event changes nothing.
  // The kernel hands over only events matching the contract's schema (malformed ones are
  // counted, logged and acknowledged before they get here).
  ctx.on(OrderEventTypes.statusChanged, async (event, meta) => {
    if (event.status === "PAID") {
      const outcome = await store.commit(event.orderId, event.eventId);
      const log = { reservationId: event.orderId, eventId: event.eventId, outcome };
      // A paid order whose stock was already released (or never reserved) is an inconsistency to look at.
      if (outcome === "released" || outcome === "unknown") meta.logger.warn(log, "order paid but its reservation is not held");
      else meta.logger.debug(log, "reservation committed");
    } else if (event.status === "CANCELLED" || event.status === "PAYMENT_FAILED") {
      // Usually already released by the order module's synchronous call; this repairs a failed one.
      const outcome = await store.release({ reservationId: event.orderId }, { ...eventHeaders(meta.headers), eventId: event.eventId });
      if (outcome.released) meta.logger.info({ reservationId: event.orderId }, "reservation released on order.status_changed");
    }
  });
}
