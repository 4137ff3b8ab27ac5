/**
 * The client address of a `/graphql` request, resolved once at the edge and kept in the hono
 * context (`c.get("clientIp")`): the rate limits, the registration/login budget and the
 * subscription caps are all keyed by it.
 *
 * It is the socket peer (`server.requestIP`), or with `TRUST_PROXY=true` `Fly-Client-IP`, else
 * the last `X-Forwarded-For` entry (the one the proxy in front added; earlier entries are
 * client-supplied). Without `TRUST_PROXY` those headers are ignored: any client can send them.
 */
import type { Context, MiddlewareHandler } from "hono";

declare module "hono" {
  interface ContextVariableMap {
    /** The client address of the request (set by {@link clientAddress}). */
    clientIp: string;
  }
}

/** What the Bun server passes hono as `c.env` (the second argument of `fetch`). */
interface BunServerLike {
  requestIP?(req: Request): { address: string } | null;
}

/**
 * The client IP of a request: see the file comment. `"unknown"` when the runtime gives no peer
 * address (e.g. `app.request()` in tests), so such requests share one budget rather than none.
 */
export function clientIp(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const fly = c.req.header("fly-client-ip")?.trim();
    if (fly) return fly;
    const xff = c.req.header("x-forwarded-for");
    const last = xff
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean)
      .pop();
    if (last) return last;
  }
  const env = c.env as BunServerLike | { server?: BunServerLike } | undefined;
  const server: BunServerLike | undefined = env && "server" in env && env.server ? env.server : (env as BunServerLike | undefined);
  const peer = typeof server?.requestIP === "function" ? server.requestIP(c.req.raw) : null;
  return peer?.address ?? "unknown";
}

/** Middleware setting `c.var.clientIp` (see the file comment); mounted before the rate limit. */
export function clientAddress(trustProxy: boolean): MiddlewareHandler {
  return async (c, next) => {
    c.set("clientIp", clientIp(c, trustProxy));
    await next();
  };
}
