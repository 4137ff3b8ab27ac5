/**
 * Rate limiting per client on `/graphql`: at most `max` requests per fixed window of `windowS`
 * seconds (windows aligned to the clock; a burst across a boundary can reach 2 × max).
 *
 * The client is the account of a valid bearer token (so users behind one NAT do not share a
 * budget, and one user does not get more by switching IPs), else the client IP: the socket peer
 * (`server.requestIP`), or with `TRUST_PROXY=true` `Fly-Client-IP`, else the last
 * `X-Forwarded-For` entry (the one the proxy in front added; earlier entries are client-supplied).
 *
 * Over the limit: HTTP 429, `Retry-After: <seconds until the window ends>`, and a GraphQL-shaped
 * body `{ errors: [{ extensions: { code: "RATE_LIMITED", retryAfterS, requestId } }] }`. Every
 * response carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds)
 * (IETF draft "RateLimit header fields for HTTP"). CORS preflights (`OPTIONS`) are not counted.
 *
 * If the store fails (NATS unreachable), requests are let through and the failure is logged:
 * an outage of the limiter must not become an outage of the API.
 */
import type { Context, MiddlewareHandler } from "hono";
import { GraphQLError } from "graphql";
import type { Logger } from "../../kernel/logger.ts";
import { authenticateRequest } from "../auth.ts";
import { graphqlErrorResponse } from "./errors.ts";
import type { RateLimitStore } from "./rate-limit-store.ts";

declare module "hono" {
  interface ContextVariableMap {
    /** The client address the rate limiter keyed an anonymous request by (set by {@link rateLimit}). */
    clientIp: string;
  }
}

/** Error code of a request over the limit. */
export const RATE_LIMITED = "RATE_LIMITED";

/** Outcome of counting one request. */
export interface RateLimitDecision {
  allowed: boolean;
  /** Requests allowed per window. */
  limit: number;
  /** Requests left in this window after this one (0 when refused). */
  remaining: number;
  /** Seconds until the current window ends (≥ 1): `Retry-After` when refused. */
  resetS: number;
}

/** Counts requests per client in fixed windows over a {@link RateLimitStore}. */
export class RateLimiter {
  readonly #store: RateLimitStore;
  readonly #max: number;
  readonly #windowMs: number;
  readonly #now: () => number;

  /**
   * @param opts.max requests per window (≥ 1); @param opts.windowS window length, seconds;
   * @param opts.now clock in epoch ms (tests pin windows with it); default `Date.now`.
   */
  constructor(store: RateLimitStore, opts: { max: number; windowS: number; now?: () => number }) {
    this.#store = store;
    this.#max = opts.max;
    this.#windowMs = opts.windowS * 1000;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * Counts one request of `client` and decides.
   * @throws what the store throws (unreachable store).
   */
  async hit(client: string): Promise<RateLimitDecision> {
    const now = this.#now();
    const window = Math.floor(now / this.#windowMs);
    const count = await this.#store.increment(client, window);
    const resetS = Math.max(1, Math.ceil(((window + 1) * this.#windowMs - now) / 1000));
    return { allowed: count <= this.#max, limit: this.#max, remaining: Math.max(0, this.#max - count), resetS };
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
    const last = xff?.split(",").map((s) => s.trim()).filter(Boolean).pop();
    if (last) return last;
  }
  const env = c.env as BunServerLike | { server?: BunServerLike } | undefined;
  const server: BunServerLike | undefined = env && "server" in env && env.server ? env.server : (env as BunServerLike | undefined);
  const peer = typeof server?.requestIP === "function" ? server.requestIP(c.req.raw) : null;
  return peer?.address ?? "unknown";
}

export interface RateLimitMiddlewareOptions {
  limiter: RateLimiter;
  /** HS256 secret, to key a request by the account of its token (an invalid token counts by IP). */
  jwtSecret: string;
  trustProxy: boolean;
  /** Store failures are logged here (at most one line per 10 s). */
  logger: Logger;
}

/** The hono middleware; see the file comment. */
export function rateLimit(opts: RateLimitMiddlewareOptions): MiddlewareHandler {
  let lastFailureLog = 0;
  return async (c, next) => {
    if (c.req.method === "OPTIONS") return next();
    const auth = await authenticateRequest(c.req.raw, opts.jwtSecret);
    const ip = clientIp(c, opts.trustProxy);
    // Kept for a WebSocket upgrade: its operations are counted per client too (ws.ts).
    c.set("clientIp", ip);
    const client = auth.ok && auth.identity ? `account:${auth.identity.accountId}` : `ip:${ip}`;
    let decision: RateLimitDecision;
    try {
      decision = await opts.limiter.hit(client);
    } catch (err) {
      const now = Date.now();
      if (now - lastFailureLog > 10_000) {
        lastFailureLog = now;
        opts.logger.warn({ err }, "rate-limit store unavailable; letting requests through");
      }
      return next();
    }
    const headers = {
      "ratelimit-limit": String(decision.limit),
      "ratelimit-remaining": String(decision.remaining),
      "ratelimit-reset": String(decision.resetS),
    };
    if (!decision.allowed) {
      return graphqlErrorResponse(c, 429, RATE_LIMITED, `rate limit of ${decision.limit} requests per window exceeded; retry in ${decision.resetS} s`, {
        extensions: { retryAfterS: decision.resetS },
        headers: { ...headers, "retry-after": String(decision.resetS) },
      });
    }
    await next();
    try {
      for (const [k, v] of Object.entries(headers)) c.res.headers.set(k, v);
    } catch {
      // Immutable headers (e.g. a WebSocket upgrade response): the counters still applied.
    }
  };
}

/**
 * Counts one GraphQL operation sent on an open WebSocket against the same per-client budget as
 * HTTP requests (the socket's upgrade was one request; each `subscribe` message is one more), so
 * a client cannot bypass the limit by sending everything over one socket.
 * @param client `account:<id>` for a socket whose `connection_init` carried a valid token, else
 *   `ip:<address>` of the upgrade request.
 * @returns the operation's error (`RATE_LIMITED`, `extensions.retryAfterS`) when over the
 *   limit, undefined to let it run; a store failure lets it run (logged by `onStoreError`).
 */
export async function limitOperation(limiter: RateLimiter, client: string, onStoreError: (err: unknown) => void): Promise<GraphQLError | undefined> {
  let decision: RateLimitDecision;
  try {
    decision = await limiter.hit(client);
  } catch (err) {
    onStoreError(err);
    return undefined;
  }
  if (decision.allowed) return undefined;
  return new GraphQLError(`rate limit of ${decision.limit} requests per window exceeded; retry in ${decision.resetS} s`, {
    extensions: { code: RATE_LIMITED, retryAfterS: decision.resetS },
  });
}
