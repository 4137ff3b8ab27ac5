import { Hono } from "hono";
import { observeHttp } from "./http-observability.ts";
import type { Logger } from "./logger.ts";

/**
 * The HTTP surface of a process without the gateway (a module-only process in split mode):
 * `/health/live` (the process runs), `/health/ready` (its modules are started and
 * registered) and `/admin/stats` (requests handled per subject), so containers and Fly checks probe every process the same way.
 * With `observe`, also `/metrics` (Prometheus), `/admin/health` (bus, registry, breakers) and
 * one access-log line per request (see http-observability.ts).
 * @param isReady returns true once the kernel started.
 */
export function createOpsApp(
  isReady: () => boolean,
  modules: readonly string[],
  handled: ReadonlyMap<string, number> = new Map(),
  observe?: { logger: Logger; health: () => Promise<Record<string, unknown>> },
): Hono {
  const app = new Hono();
  if (observe) observeHttp(app, { logger: observe.logger, health: async () => ({ role: "modules", modules, ...(await observe.health()) }) });
  app.get("/health/live", (c) => c.json({ status: "ok" }));
  app.get("/health/ready", (c) => (isReady() ? c.json({ status: "ready", modules }) : c.json({ status: "not_ready", modules }, 503)));
  // Requests this instance served, by subject: shows how a queue group spreads the load.
  app.get("/admin/stats", (c) => c.json({ modules, handled: Object.fromEntries(handled) }));
  return app;
}
