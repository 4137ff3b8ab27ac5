/**
 * Security response headers on every gateway route, with hono's `secure-headers` middleware
 * (https://hono.dev/docs/middleware/builtin/secure-headers) and its defaults: `X-Content-Type-Options:
 * nosniff`, `X-Frame-Options: SAMEORIGIN`, `Strict-Transport-Security`, `Referrer-Policy:
 * no-referrer`, `Cross-Origin-Opener-Policy` / `Cross-Origin-Resource-Policy: same-origin`, ...
 * No `Content-Security-Policy`: GraphiQL's page loads its scripts from a CDN, and the API itself
 * only answers JSON, which a CSP does not protect.
 */
import type { MiddlewareHandler } from "hono";
import { secureHeaders } from "hono/secure-headers";

/** The middleware (hono's defaults; `X-Powered-By` removed). */
export function securityHeaders(): MiddlewareHandler {
  return secureHeaders();
}
