import { newId, REQUEST_ID_HEADER, type Headers, type ModuleContext } from "../../kernel/index.ts";
import { OrderEvents, type OrderCreatedEvent } from "../order/contract/events.ts";
import { CatalogEvents, CatalogSubjects, type ReleaseStockReply, type ReserveStockReply, type StockChangedEvent } from "./contract/index.ts";
import type { CatalogStore, StockLevel } from "./storage/types.ts";
import { parseReleaseRequest, parseReserveRequest } from "./validation.ts";

/**
 * Wires the catalog's stock handling to the bus: serves reserve and release, consumes
 * `order.created` (commits the reservation), and publishes `catalog.stock_changed` once per
 * product after each committed change.
 */
export function serveStock(ctx: ModuleContext, store: CatalogStore): void {
  const announce = (changes: readonly StockLevel[], requestHeaders: Headers): void => {
    const requestId = requestHeaders[REQUEST_ID_HEADER];
    const headers: Headers = requestId ? { [REQUEST_ID_HEADER]: requestId } : {};
    const occurredAt = new Date().toISOString();
    for (const c of changes) {
      // Fire-and-forget: a lost stock notification only delays a subscriber; stock itself is committed.
      ctx.emit<StockChangedEvent>(CatalogEvents.stockChanged, { eventId: newId(), productId: c.productId, stock: c.stock, occurredAt }, headers).catch((err: unknown) =>
        ctx.logger.warn({ err, productId: c.productId }, "could not publish catalog.stock_changed"),
      );
    }
  };

  ctx.serve<unknown, ReserveStockReply>(CatalogSubjects.reserveStock, async (body, meta) => {
    const req = parseReserveRequest(body);
    const outcome = await store.reserve(req);
    if (outcome.created) {
      meta.logger.debug({ reservationId: req.reservationId, items: req.items.length }, "stock reserved");
      announce(outcome.changes, meta.headers);
    }
    return outcome.reservation;
  });

  ctx.serve<unknown, ReleaseStockReply>(CatalogSubjects.releaseStock, async (body, meta) => {
    const req = parseReleaseRequest(body);
    const outcome = await store.release(req);
    if (outcome.released) {
      meta.logger.debug({ reservationId: req.reservationId }, "reservation released");
      announce(outcome.changes, meta.headers);
    }
    return { released: outcome.released };
  });

  ctx.on<OrderCreatedEvent>(OrderEvents.created, async (event, meta) => {
    if (typeof event?.eventId !== "string" || typeof event.reservationId !== "string") {
      meta.logger.warn({ event }, "malformed order.created event ignored");
      return;
    }
    const outcome = await store.commit(event.reservationId, event.eventId);
    const log = { reservationId: event.reservationId, eventId: event.eventId, outcome };
    // An order whose stock was already released (or never reserved) is an inconsistency to look at.
    if (outcome === "released" || outcome === "unknown") meta.logger.warn(log, "order.created for a reservation that is not held");
    else meta.logger.debug(log, "reservation committed");
  });
}
