/**
 * Rate limiting on `/graphql`: fixed windows of `RATE_LIMIT_WINDOW_S` seconds (aligned to the
 * clock; a burst across a boundary can reach 2 × a budget), several budgets per request:
 *
 * - **IP** (`RATE_LIMIT_IP_MAX`, default 3 × `RATE_LIMIT_MAX`): every request of the client IP
 *   (see client-ip.ts), with or without a token. A token never lifts it, so registering N
 *   accounts from one address does not give N budgets; the headroom over the account budget
 *   leaves room for a few users behind one NAT.
 * - **account** (`RATE_LIMIT_MAX`): every request carrying a valid token also counts against its
 *   account, so one user does not get more by switching IPs.
 * - **auth** (`RATE_LIMIT_AUTH_MAX`): registration/login operations per IP, counted by the
 *   GraphQL plugin that sees the mutation fields (../plugins/auth-rate-limit.ts).
 *
 * A request is refused when any budget it counts against is exhausted: HTTP 429,
 * `Retry-After: <seconds until the window ends>`, and a GraphQL-shaped body
 * `{ errors: [{ extensions: { code: "RATE_LIMITED", retryAfterS, requestId } }] }`. Every response
 * carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds) of the budget
 * closest to exhaustion (IETF draft "RateLimit header fields for HTTP"). CORS preflights
 * (`OPTIONS`) are not counted.
 *
 * If the store fails (NATS unreachable), requests are let through and the failure is logged:
 * an outage of the limiter must not become an outage of the API.
 */
import type { MiddlewareHandler } from "hono";
import { GraphQLError } from "graphql";
import type { Logger } from "../../kernel/logger.ts";
import { authenticateRequest } from "../auth.ts";
import { graphqlErrorResponse } from "./errors.ts";
import type { RateLimitStore } from "./rate-limit-store.ts";

/** Error code of a request over a limit. */
export const RATE_LIMITED = "RATE_LIMITED";

/** Outcome of counting one request against one budget (or the binding one of several). */
export interface RateLimitDecision {
  allowed: boolean;
  /** Requests allowed per window. */
  limit: number;
  /** Requests left in this window after this one (0 when refused). */
  remaining: number;
  /** Seconds until the current window ends (≥ 1): `Retry-After` when refused. */
  resetS: number;
}

/** Counts requests per key in fixed windows over a {@link RateLimitStore}, against one budget. */
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
   * Counts one request of `client` (a store key such as `ip:203.0.113.7`) and decides.
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

/** The gateway's budgets; a missing one is off (its option is 0). They share one store and window. */
export interface RateLimits {
  /** Every request per client IP (`RATE_LIMIT_IP_MAX`). */
  ip?: RateLimiter | undefined;
  /** Every request with a valid token per account (`RATE_LIMIT_MAX`). */
  account?: RateLimiter | undefined;
  /** Registration/login operations per client IP (`RATE_LIMIT_AUTH_MAX`). */
  auth?: RateLimiter | undefined;
}

/** Who sent a request: its client IP and, with a valid token, its account. */
export interface RateLimitClient {
  ip: string;
  accountId?: string | undefined;
}

/**
 * The binding decision of several: a refused one (the one whose window ends last), else the one
 * with the fewest requests left; undefined for none.
 */
export function bindingDecision(decisions: readonly RateLimitDecision[]): RateLimitDecision | undefined {
  let pick: RateLimitDecision | undefined;
  for (const d of decisions) {
    if (!pick) pick = d;
    else if (!d.allowed && (pick.allowed || d.resetS > pick.resetS)) pick = d;
    else if (d.allowed && pick.allowed && d.remaining < pick.remaining) pick = d;
  }
  return pick;
}

/**
 * Counts one request of `client` against the IP budget and, with an account, the account
 * budget (both always counted, so a refused request still uses up both).
 * @returns the binding decision; undefined when both budgets are off.
 * @throws what the store throws (unreachable store).
 */
export async function hitRequestBudgets(limits: RateLimits, client: RateLimitClient): Promise<RateLimitDecision | undefined> {
  const hits: Promise<RateLimitDecision>[] = [];
  if (limits.ip) hits.push(limits.ip.hit(`ip:${client.ip}`));
  if (limits.account && client.accountId !== undefined) hits.push(limits.account.hit(`account:${client.accountId}`));
  return bindingDecision(await Promise.all(hits));
}

/**
 * Counts `count` registration/login operations of `ip` against the auth budget.
 * @returns the binding decision (refused if any of them is over); undefined when the budget is
 *   off or `count` is 0.
 * @throws what the store throws (unreachable store).
 */
export async function hitAuthBudget(limits: RateLimits, ip: string, count: number): Promise<RateLimitDecision | undefined> {
  const auth = limits.auth;
  if (!auth || count <= 0) return undefined;
  return bindingDecision(await Promise.all(Array.from({ length: count }, () => auth.hit(`auth:${ip}`))));
}

/** The GraphQL error of a refused operation: `RATE_LIMITED` with `extensions.retryAfterS` (and `extra`). */
export function rateLimitedError(decision: RateLimitDecision, what = "requests", extra: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(`rate limit of ${decision.limit} ${what} per window exceeded; retry in ${decision.resetS} s`, {
    extensions: { code: RATE_LIMITED, retryAfterS: decision.resetS, ...extra },
  });
}

/** Logs a store failure at most once per 10 s; the caller lets the request through. */
export function storeFailureLogger(logger: Logger, what: string): (err: unknown) => void {
  let last = 0;
  return (err) => {
    const now = Date.now();
    if (now - last < 10_000) return;
    last = now;
    logger.warn({ err }, `rate-limit store unavailable; letting ${what} through`);
  };
}

export interface RateLimitMiddlewareOptions {
  limits: RateLimits;
  /** HS256 secret, to count a request against the account of its token (an invalid token counts by IP only). */
  jwtSecret: string;
  /** Store failures are logged here (at most one line per 10 s). */
  logger: Logger;
}

/** The hono middleware; see the file comment. Needs `c.var.clientIp` (client-ip.ts). */
export function rateLimit(opts: RateLimitMiddlewareOptions): MiddlewareHandler {
  const onStoreError = storeFailureLogger(opts.logger, "requests");
  return async (c, next) => {
    if (c.req.method === "OPTIONS") return next();
    const auth = await authenticateRequest(c.req.raw, opts.jwtSecret);
    const accountId = auth.ok && auth.identity ? auth.identity.accountId : undefined;
    let decision: RateLimitDecision | undefined;
    try {
      decision = await hitRequestBudgets(opts.limits, { ip: c.get("clientIp"), accountId });
    } catch (err) {
      onStoreError(err);
      return next();
    }
    if (!decision) return next();
    const headers = {
      "ratelimit-limit": String(decision.limit),
      "ratelimit-remaining": String(decision.remaining),
      "ratelimit-reset": String(decision.resetS),
    };
    if (!decision.allowed) {
      return graphqlErrorResponse(
        c,
        429,
        RATE_LIMITED,
        `rate limit of ${decision.limit} requests per window exceeded; retry in ${decision.resetS} s`,
        {
          extensions: { retryAfterS: decision.resetS },
          headers: { ...headers, "retry-after": String(decision.resetS) },
        },
      );
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
 * Counts one GraphQL operation sent on an open WebSocket against the same budgets as HTTP
 * requests (the socket's upgrade was one request; each `subscribe` message is one more), so a
 * client cannot bypass the limit by sending everything over one socket.
 * @param client the upgrade's address and the account of the `connection_init` token, if any.
 * @returns the operation's error (`RATE_LIMITED`, `extensions.retryAfterS`) when over a budget,
 *   undefined to let it run; a store failure lets it run (reported to `onStoreError`).
 */
export async function limitOperation(
  limits: RateLimits,
  client: RateLimitClient,
  onStoreError: (err: unknown) => void,
): Promise<GraphQLError | undefined> {
  let decision: RateLimitDecision | undefined;
  try {
    decision = await hitRequestBudgets(limits, client);
  } catch (err) {
    onStoreError(err);
    return undefined;
  }
  return decision && !decision.allowed ? rateLimitedError(decision) : undefined;
}
