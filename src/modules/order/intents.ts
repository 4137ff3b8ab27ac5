import type { Config, Logger, ModuleContext } from "../../kernel/index.ts";
import type { OrderOptions } from "./options.ts";
import { DEFAULT_REQUEST_TIMEOUT_MS } from "../../kernel/bus/msg.ts";
import { matches } from "../../kernel/bus/subject.ts";
import { CatalogCommands, CatalogSubjects, type ReleaseStockRequest } from "../catalog/contract/index.ts";
import type { SagaStore } from "./storage/saga.ts";

/**
 * Reservations of orders that were never written. `placeOrder` records an intent before it
 * asks the catalog to reserve, and the order's transaction deletes it. An intent still there
 * after the grace period (`ORDER_INTENT_GRACE_S`) means the checkout failed mid-flight (the
 * process died, a reply was lost on the bus, the release after a failure did not get through):
 *
 * 1. the sweeper marks it swept by compare-and-set, only if the order does not exist. The
 *    order's transaction deletes the intent and is written only if it was there and not swept
 *    (`requireIntent`), so exactly one of the two wins: a slow but successful checkout never
 *    has its stock released under it, and a late one fails with SERVICE_UNAVAILABLE;
 * 2. it asks the catalog to release the reservation (idempotent; an unknown id is recorded as
 *    released, so a reserve still travelling on the bus is refused when it arrives);
 * 3. once the catalog confirmed, it deletes the intent. Until then every pass retries.
 *
 * So stock reserved for an order that does not exist is back within the grace period plus one
 * sweep interval once the catalog answers, instead of after `ORDER_PAYMENT_TIMEOUT_S`.
 */

/** What a pass of the intent sweeper needs. */
export interface IntentSweepDeps {
  sagas: SagaStore;
  call: ModuleContext["call"];
  logger: Logger;
  /** `ORDER_INTENT_GRACE_S` in ms: intents younger than this are left alone. */
  graceMs: number;
  /** True once the module is stopping: the pass ends early. */
  stopped: () => boolean;
}

/** Intents looked at per pass (the rest wait for the next pass, oldest first). */
const BATCH = 100;

/**
 * One pass: sweeps, releases and deletes the stale intents (see the file comment). Failures
 * are logged per intent and retried on the next pass; never throws for one intent.
 * @returns how many reservations the catalog confirmed released (or found nothing to release).
 */
export async function sweepIntents(d: IntentSweepDeps): Promise<number> {
  let settled = 0;
  for (const intent of await d.sagas.staleIntents(d.graceMs, BATCH)) {
    if (d.stopped()) break;
    try {
      if (intent.orderExists) {
        // A leftover: the order was written, its reservation is the order's.
        await d.sagas.dropIntent(intent.orderId);
        continue;
      }
      // Lost: the order was written meanwhile (the next pass sees it) or another instance swept it.
      if (!intent.swept && !(await d.sagas.sweepIntent(intent.orderId))) continue;
      const body: ReleaseStockRequest = { reservationId: intent.orderId };
      const r = await d.call(CatalogCommands.releaseStock, body, { idempotent: true });
      d.logger.warn({ orderId: intent.orderId, released: r.released }, "released a reservation whose order was never written");
      await d.sagas.dropIntent(intent.orderId);
      settled++;
    } catch (err) {
      d.logger.warn({ err, orderId: intent.orderId }, "could not settle a reservation intent; retrying on the next pass");
    }
  }
  return settled;
}

/**
 * The timeout of `catalog.stock.reserve` as the order module's calls get it: the first
 * `BUS_TIMEOUTS` pattern that matches, else the bus default, ms.
 */
export function reserveTimeoutMs(config: Pick<Config, "busTimeouts">): number {
  return config.busTimeouts.find((t) => matches(t.pattern, CatalogSubjects.reserveStock))?.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
}

/**
 * The grace period in ms (`ORDER_INTENT_GRACE_S`). Logs a warning when it is not above the
 * reserve timeout: not unsafe (the compare-and-set decides), but checkouts that are merely
 * slow would then be refused with SERVICE_UNAVAILABLE.
 */
export function intentGraceMs(
  config: Pick<Config, "busTimeouts">,
  options: Pick<OrderOptions, "orderIntentGraceS">,
  logger: Logger,
): number {
  const graceMs = options.orderIntentGraceS * 1000;
  const reserveMs = reserveTimeoutMs(config);
  if (graceMs <= reserveMs) {
    logger.warn(
      { graceMs, reserveTimeoutMs: reserveMs },
      "ORDER_INTENT_GRACE_S is not above the catalog.stock.reserve timeout: slow checkouts will be refused",
    );
  }
  return graceMs;
}
