/**
 * CORS on `/graphql` from an allow-list (`CORS_ORIGINS`), with hono's `cors` middleware
 * (https://hono.dev/docs/middleware/builtin/cors). Empty list (default): the middleware is not
 * installed and yoga's own CORS is off, so responses carry no `Access-Control-*` header and
 * browsers refuse cross-origin reads. `*`: any origin. Otherwise only the listed origins get
 * `Access-Control-Allow-Origin` (echoing theirs); preflights are answered 204 either way, without
 * the header for an origin not on the list. No credentials (cookies): the API authenticates with
 * bearer tokens. Requested headers are allowed as asked (the origin is what is checked), and the
 * request id and rate-limit headers are exposed to scripts.
 */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";

/** Response headers a cross-origin script may read. */
export const EXPOSED_HEADERS = ["x-request-id", "retry-after", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"];

/** The CORS middleware for `origins` (`["*"]` = any), or null for an empty list. */
export function corsAllowList(origins: readonly string[]): MiddlewareHandler | null {
  if (origins.length === 0) return null;
  const any = origins.includes("*");
  const allowed = new Set(origins);
  return cors({
    origin: (origin) => (any ? "*" : allowed.has(origin) ? origin : null),
    allowMethods: ["GET", "POST", "OPTIONS"],
    exposeHeaders: EXPOSED_HEADERS,
    maxAge: 600,
    credentials: false,
  });
}
