import { Hono } from "hono";

/**
 * The HTTP surface of a process without the gateway (a module-only process in split mode):
 * `/health/live` (the process runs), `/health/ready` (its modules are started and
 * registered) and `/admin/stats` (requests handled per subject), so containers and Fly checks probe every process the same way.
 * @param isReady returns true once the kernel started.
 */
export function createOpsApp(isReady: () => boolean, modules: readonly string[], handled: ReadonlyMap<string, number> = new Map()): Hono {
  const app = new Hono();
  app.get("/health/live", (c) => c.json({ status: "ok" }));
  app.get("/health/ready", (c) => (isReady() ? c.json({ status: "ready", modules }) : c.json({ status: "not_ready", modules }, 503)));
  // Requests this instance served, by subject: shows how a queue group spreads the load.
  app.get("/admin/stats", (c) => c.json({ modules, handled: Object.fromEntries(handled) }));
  return app;
}
