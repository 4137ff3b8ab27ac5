import { Hono } from "hono";
import type { Logger } from "../kernel/logger.ts";
import { authenticateRequest } from "./auth.ts";
import type { SessionGuard } from "./sessions.ts";
import type { GatewayContext } from "./context.ts";
import type { SupergraphStatusReader } from "./federation/status.ts";
import type { GatewayYoga } from "./yoga.ts";
import type { GatewayMiddleware } from "./middleware/index.ts";
import { observeHttp } from "../kernel/http-observability.ts";
import { graphqlErrorResponse } from "./middleware/errors.ts";

export interface HttpAppOptions {
  /** The gateway's one yoga instance (yoga.ts), shared with the WebSocket server (ws.ts). */
  yoga: GatewayYoga;
  /** The supergraph's status (federation/status.ts); readiness reads the loaded supergraph from it. */
  status: SupergraphStatusReader;
  logger: Logger;
  jwtSecret: string;
  /**
   * Refuses verified tokens whose account is missing or disabled or whose session is revoked
   * (sessions.ts), before the operation runs; every token is accepted as verified when absent.
   */
  sessions?: SessionGuard;
  /** Module names that must be registered for readiness. */
  expectedSubgraphs: readonly string[];
  /** Protection middleware (middleware/index.ts), mounted in order before the routes. */
  middleware?: readonly GatewayMiddleware[];
  /**
   * Upgrades a `/graphql` WebSocket request (ws.ts `upgrade`: a Response to refuse it, undefined
   * once upgraded, null when it is no WebSocket request). Called from the `/graphql` route, so
   * the protection middleware (security headers, rate limit) has run on the upgrade request.
   * `server` is the second argument Bun passed to `fetch`; `clientIp` the address the rate
   * limiter keyed the upgrade by (undefined when rate limiting is off).
   */
  upgradeWebSocket?: (req: Request, server: unknown, clientIp: string | undefined) => Response | undefined | null;
}

/**
 * The gateway's public HTTP surface (hono): `/graphql` (yoga, GraphiQL on GET from a browser),
 * `/health/live`, `/health/ready` (a supergraph with every expected subgraph is loaded).
 * `/metrics` and `/admin/*` are not served here (404) but on the operations listener
 * (kernel/ops-http.ts; the gateway's routes there: {@link gatewayAdminRoutes}).
 * It builds nothing of its own: yoga and the WebSocket upgrade come from the composition root (index.ts).
 */
export function createHttpApp(opts: HttpAppOptions): Hono {
  const app = new Hono();
  // Request id, access log, HTTP metrics and spans for every route.
  observeHttp(app, { logger: opts.logger });
  for (const m of opts.middleware ?? []) app.use(m.path, m.handler);
  const { yoga } = opts;

  app.get("/health/live", (c) => c.json({ status: "ok" }));
  app.get("/health/ready", (c) => {
    const s = opts.status();
    // Ready while a good supergraph with every expected subgraph is loaded; a later failed
    // composition does not turn readiness red (the last good supergraph keeps serving).
    const missing = opts.expectedSubgraphs.filter((n) => !s.current?.subgraphs.includes(n));
    const ready = s.current !== null && missing.length === 0;
    return c.json({ status: ready ? "ready" : "not_ready", supergraphVersion: s.current?.version ?? null, missing }, ready ? 200 : 503);
  });
  app.on(["GET", "POST", "OPTIONS"], "/graphql", async (c) => {
    if (opts.upgradeWebSocket && c.req.header("upgrade")?.toLowerCase() === "websocket") {
      const upgraded = opts.upgradeWebSocket(c.req.raw, c.env, c.get("clientIp"));
      // Bun ignores the response of a request it upgraded (hono's own Bun adapter does the same).
      if (upgraded === undefined) return new Response(null);
      if (upgraded) return upgraded;
    }
    const requestId = c.get("requestId");
    const auth = await authenticateRequest(c.req.raw, opts.jwtSecret);
    if (!auth.ok) {
      return c.json({ errors: [{ message: auth.reason, extensions: { code: "UNAUTHENTICATED", requestId } }] }, 401, {
        "x-request-id": requestId,
        "www-authenticate": 'Bearer error="invalid_token"',
      });
    }
    const verdict = auth.identity && opts.sessions ? await opts.sessions.check(auth.identity) : undefined;
    if (verdict && !verdict.ok) {
      return c.json({ errors: [{ message: verdict.reason, extensions: { code: verdict.code, requestId } }] }, verdict.status, {
        "x-request-id": requestId,
        ...(verdict.status === 401 ? { "www-authenticate": 'Bearer error="invalid_token"' } : { "retry-after": "1" }),
      });
    }
    const ctx: GatewayContext = { identity: auth.identity, requestId, clientIp: c.get("clientIp"), transport: "http" };
    const res = await yoga.fetch(c.req.raw, ctx);
    res.headers.set("x-request-id", requestId);
    return res;
  });
  // GraphQL over HTTP is GET and POST: any other method gets a coded error, not hono's text 404.
  app.all("/graphql", (c) =>
    graphqlErrorResponse(c, 405, "METHOD_NOT_ALLOWED", `method ${c.req.method.slice(0, 20)} is not allowed; use GET or POST`, {
      headers: { allow: "GET, POST, OPTIONS" },
    }),
  );
  return app;
}

/** `GET /admin/health` fields of a gateway: its role and the supergraph it serves. */
export function gatewayHealth(status: SupergraphStatusReader): Record<string, unknown> {
  const s = status();
  return {
    role: "gateway",
    supergraph: { version: s.current?.version ?? null, subgraphs: s.current?.subgraphs ?? [], aggregator: s.aggregator },
  };
}

/**
 * The gateway's routes on the operations listener (behind the admin token):
 * `GET /admin/supergraph`: status, last composition errors and the supergraph SDL.
 */
export function gatewayAdminRoutes(status: SupergraphStatusReader): (app: Hono) => void {
  return (app) => {
    app.get("/admin/supergraph", (c) => {
      const s = status();
      return c.json({
        version: s.current?.version ?? null,
        subgraphs: s.current?.subgraphs ?? [],
        composedAt: s.current?.composedAt ?? null,
        aggregator: s.aggregator,
        registered: s.registered,
        errors: s.lastErrors,
        sdl: s.current?.sdl ?? null,
      });
    });
  };
}
