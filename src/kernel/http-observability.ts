import type { Hono } from "hono";
import { matchedRoutes } from "hono/route";
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, propagation } from "@opentelemetry/api";
import { newId } from "./ids.ts";
import type { Logger } from "./logger.ts";
import { httpRequestDuration, secondsSince } from "./metrics.ts";
import { runWithRequestId } from "./request-context.ts";
import { tracer } from "./tracing.ts";

declare module "hono" {
  interface ContextVariableMap {
    /** Request id of this HTTP request (from a valid `x-request-id`, else a new KSUID). */
    requestId: string;
  }
}

/** An incoming `x-request-id` is kept when it is 1–64 word characters, dots or dashes. */
export const REQUEST_ID_RE = /^[\w.-]{1,64}$/;

// Probes and scrapes run every few seconds: their access lines go to debug, not info.
const QUIET = /^\/(health\/|metrics$)/;

export interface ObserveHttpOptions {
  logger: Logger;
}

/**
 * Instruments a hono app (the public one and the operations listener alike; the operations
 * routes `/metrics` and `/admin/*` live in ops-http.ts):
 * - every request gets a request id (`c.get("requestId")`, echoed as `x-request-id`), runs
 *   as the current request id and inside a SERVER span (child of an incoming `traceparent`),
 *   is counted in `switchyard_http_request_duration_seconds{route,method,status}` (route =
 *   hono route pattern, `unmatched` for 404s) and writes one access-log line
 *   `{ method, path, route, status, duration_ms, request_id }` ("request").
 * Call right after `new Hono()`, before other routes.
 */
export function observeHttp(app: Hono, opts: ObserveHttpOptions): void {
  app.use("*", async (c, next) => {
    const start = performance.now();
    const incoming = c.req.header("x-request-id");
    const requestId = incoming && REQUEST_ID_RE.test(incoming) ? incoming : newId();
    c.set("requestId", requestId);
    const carrier: Record<string, string> = {};
    const tp = c.req.header("traceparent");
    if (tp) carrier["traceparent"] = tp;
    const ts = c.req.header("tracestate");
    if (ts) carrier["tracestate"] = ts;
    const parent = propagation.extract(ROOT_CONTEXT, carrier);
    const method = c.req.method;
    await runWithRequestId(requestId, () =>
      tracer().startActiveSpan(
        `HTTP ${method}`,
        { kind: SpanKind.SERVER, attributes: { "http.request.method": method, "url.path": c.req.path } },
        parent,
        async (span) => {
          try {
            await next();
          } finally {
            // The route pattern of the handler (middlewares are registered for method ALL).
            const route =
              matchedRoutes(c)
                .filter((r) => r.method !== "ALL")
                .at(-1)?.path ?? "unmatched";
            const status = c.res.status;
            c.res.headers.set("x-request-id", requestId);
            httpRequestDuration.observe({ route, method, status: String(status) }, secondsSince(start));
            span.updateName(`HTTP ${method} ${route}`);
            span.setAttribute("http.route", route);
            span.setAttribute("http.response.status_code", status);
            if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
            span.end();
            // The line is only built when its level is on (LOG_LEVEL=warn in production skips it).
            const level = QUIET.test(c.req.path) ? "debug" : "info";
            if (opts.logger.isLevelEnabled(level)) {
              const line = {
                method,
                path: c.req.path,
                route,
                status,
                duration_ms: Math.round((performance.now() - start) * 100) / 100,
                request_id: requestId,
              };
              opts.logger[level](line, "request");
            }
          }
        },
      ),
    );
  });
}
