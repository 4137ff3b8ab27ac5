import { Hono } from "hono";
import { requireAdminToken, type AdminIdentityCheck } from "./auth/admin-token.ts";
import type { Config } from "./config.ts";
import { observeHttp } from "./http-observability.ts";
import type { Logger } from "./logger.ts";
import { metricsText } from "./metrics.ts";

/**
 * The public probes of a process without the gateway (a module-only process in split mode), on
 * its `PORT`: `/health/live` (the process runs) and `/health/ready` (its modules are started
 * and registered), so containers and Fly checks probe every process the same way. The
 * operations endpoints are not here: see {@link createOpsApp}.
 * @param isReady returns true once the kernel started.
 */
export function createProbeApp(isReady: () => boolean, modules: readonly string[], logger: Logger): Hono {
  const app = new Hono();
  observeHttp(app, { logger });
  app.get("/health/live", (c) => c.json({ status: "ok" }));
  app.get("/health/ready", (c) => (isReady() ? c.json({ status: "ready", modules }) : c.json({ status: "not_ready", modules }, 503)));
  return app;
}

/** What the operations listener of a process serves. */
export interface OpsAppOptions {
  logger: Logger;
  /** JWT_SECRET: `/admin/*` needs a token signed with it carrying the `admin` role. */
  jwtSecret: string;
  /** Further check of an admin token's identity (the gateway's session guard); none = signature and role only. */
  checkIdentity?: AdminIdentityCheck;
  /** Body of `GET /admin/health` after `status: "ok"` (role, bus, registry, breakers...). */
  health: () => Promise<Record<string, unknown>>;
  /** Adds this process's own `/admin/...` routes (registered behind the admin-token check). */
  routes?: (app: Hono) => void;
}

/**
 * The operations listener (`OPS_PORT` on `OPS_HOST`, loopback by default), the same in every
 * process (monolith, gateway, module): `GET /metrics` (Prometheus text of this process, open to
 * whoever reaches the listener: the scraper sends no token) and `/admin/*` (every route behind
 * an admin token, see auth/admin-token.ts): `GET /admin/health` plus the process's own routes
 * (`/admin/supergraph` of a gateway, `/admin/stats` of a module process, `/admin/modules` of
 * every process running modules: module-admin.ts).
 */
export function createOpsApp(opts: OpsAppOptions): Hono {
  const app = new Hono();
  observeHttp(app, { logger: opts.logger });
  app.get("/metrics", async (c) => {
    const m = await metricsText();
    return c.body(m.body, 200, { "content-type": m.contentType });
  });
  app.use("/admin/*", requireAdminToken(opts.jwtSecret, opts.checkIdentity));
  app.get("/admin/health", async (c) => c.json({ status: "ok", ...(await opts.health()) }));
  opts.routes?.(app);
  return app;
}

/** A running operations listener. */
export interface OpsServer {
  /** Base URL, e.g. `http://127.0.0.1:9091`. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts {@link createOpsApp} on `config.opsHost:config.opsPort` and logs its URL
 * (`ops endpoints on <url>`, fields `opsUrl`, `opsPort`).
 * @throws Error naming OPS_PORT/OPS_HOST when the listener cannot bind (port in use, ...).
 */
export function startOpsServer(config: Pick<Config, "opsPort" | "opsHost">, opts: OpsAppOptions): OpsServer {
  const app = createOpsApp(opts);
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({ port: config.opsPort, hostname: config.opsHost, fetch: (req) => app.fetch(req) });
  } catch (err) {
    throw new Error(
      `operations listener (OPS_HOST=${config.opsHost}, OPS_PORT=${config.opsPort}) cannot start: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const host = config.opsHost.includes(":") ? `[${config.opsHost}]` : config.opsHost;
  const url = `http://${host}:${server.port}`;
  opts.logger.info({ opsUrl: url, opsPort: server.port }, `ops endpoints on ${url} (/metrics; /admin/* with an admin token)`);
  return { url, port: server.port ?? config.opsPort, stop: () => server.stop(true) };
}
