/**
 * The gateway's HTTP-level protection (hono middleware), assembled from the config. Applied in
 * this order, before the `/graphql` handler authenticates and hands the request to yoga:
 *
 * 1. security headers (every route);
 * 2. CORS allow-list (`/graphql`; answers preflights);
 * 3. client address (`/graphql`; `c.var.clientIp`, honouring `TRUST_PROXY`);
 * 4. rate limit per IP and per account (`/graphql`; 429 `RATE_LIMITED`);
 * 5. body size limit (`/graphql`; 413 `PAYLOAD_TOO_LARGE`).
 *
 * GraphQL-level protection (operation limits, CSRF, introspection, masked errors) is in
 * ../plugins/ (yoga plugins).
 */
import type { MiddlewareHandler } from "hono";
import type { NatsConnection } from "nats";
import type { GatewayConfig } from "../options.ts";
import type { Logger } from "../../kernel/logger.ts";
import { bodySizeLimit } from "./body-limit.ts";
import { corsAllowList } from "./cors.ts";
import { clientAddress } from "./client-ip.ts";
import { RateLimiter, rateLimit, type RateLimits } from "./rate-limit.ts";
import { MemoryRateLimitStore, NatsKvRateLimitStore, type RateLimitStore } from "./rate-limit-store.ts";
import { securityHeaders } from "./secure-headers.ts";

/** One middleware and the path pattern it is mounted on (`app.use(path, handler)`). */
export interface GatewayMiddleware {
  /** hono path pattern, e.g. `"*"` or `"/graphql"`. */
  path: string;
  handler: MiddlewareHandler;
}

export interface GatewayMiddlewareOptions {
  config: Pick<
    GatewayConfig,
    "corsOrigins" | "maxBodyBytes" | "rateLimitMax" | "rateLimitWindowS" | "trustProxy" | "rateLimitIpMax" | "rateLimitAuthMax"
  >;
  jwtSecret: string;
  logger: Logger;
  /** NATS connection of the process (split mode): the rate-limit counters are shared through it. */
  natsConnection?: NatsConnection | undefined;
  /** Registers cleanup for gateway stop. */
  onStop(fn: () => void | Promise<void>): void;
}

/**
 * Builds the middleware list; see the file comment. With a NATS connection the rate limiter
 * counts in JetStream KV (shared by every gateway), else in memory; the IP, account and auth
 * budgets share one store and window (distinct keys).
 * @returns the middleware in order, and the budgets (each undefined when its option is 0),
 *   which the WebSocket server and the registration/login plugin count against too.
 * @throws when the KV bucket cannot be opened (JetStream disabled on the server).
 */
export async function createGatewayMiddleware(
  opts: GatewayMiddlewareOptions,
): Promise<{ middleware: GatewayMiddleware[]; limits: RateLimits }> {
  const { config } = opts;
  const list: GatewayMiddleware[] = [{ path: "*", handler: securityHeaders() }];
  const limits: RateLimits = {};
  const cors = corsAllowList(config.corsOrigins);
  if (cors) list.push({ path: "/graphql", handler: cors });
  list.push({ path: "/graphql", handler: clientAddress(config.trustProxy) });
  const budgets = { ip: config.rateLimitIpMax, account: config.rateLimitMax, auth: config.rateLimitAuthMax };
  if (budgets.ip > 0 || budgets.account > 0 || budgets.auth > 0) {
    const store: RateLimitStore = opts.natsConnection
      ? await NatsKvRateLimitStore.open(opts.natsConnection, { windowMs: config.rateLimitWindowS * 1000 })
      : new MemoryRateLimitStore();
    opts.onStop(() => store.close());
    opts.logger.info(
      { store: store.kind, ipMax: budgets.ip, accountMax: budgets.account, authMax: budgets.auth, windowS: config.rateLimitWindowS },
      "rate limiting on",
    );
    const limiter = (max: number) => (max > 0 ? new RateLimiter(store, { max, windowS: config.rateLimitWindowS }) : undefined);
    limits.ip = limiter(budgets.ip);
    limits.account = limiter(budgets.account);
    limits.auth = limiter(budgets.auth);
    if (limits.ip || limits.account)
      list.push({ path: "/graphql", handler: rateLimit({ limits, jwtSecret: opts.jwtSecret, logger: opts.logger }) });
  }
  list.push({ path: "/graphql", handler: bodySizeLimit(config.maxBodyBytes) });
  return { middleware: list, limits };
}
