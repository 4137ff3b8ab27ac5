import { Hono } from "hono";

/**
 * The HTTP surface of a process without the gateway (a module-only process in split mode):
 * `/health/live` (the process runs) and `/health/ready` (its modules are started and
 * registered), so containers and Fly checks probe every process the same way.
 * @param isReady returns true once the kernel started.
 */
export function createOpsApp(isReady: () => boolean, modules: readonly string[]): Hono {
  const app = new Hono();
  app.get("/health/live", (c) => c.json({ status: "ok" }));
  app.get("/health/ready", (c) => (isReady() ? c.json({ status: "ready", modules }) : c.json({ status: "not_ready", modules }, 503)));
  return app;
}
