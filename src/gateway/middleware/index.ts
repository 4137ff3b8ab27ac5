/**
 * The gateway's HTTP-level protection (hono middleware), assembled from the config. Applied in
 * this order, before the `/graphql` handler authenticates and hands the request to yoga:
 *
 * 1. security headers (every route);
 * 2. CORS allow-list (`/graphql`; answers preflights);
 * 3. rate limit (`/graphql`; 429 `RATE_LIMITED`);
 * 4. body size limit (`/graphql`; 413 `PAYLOAD_TOO_LARGE`).
 *
 * GraphQL-level protection (operation limits, CSRF, introspection, masked errors) is in
 * ../plugins/ (yoga plugins).
 */
import type { MiddlewareHandler } from "hono";
import type { NatsConnection } from "nats";
import type { Config } from "../../kernel/config.ts";
import type { Logger } from "../../kernel/logger.ts";
import { bodySizeLimit } from "./body-limit.ts";
import { corsAllowList } from "./cors.ts";
import { RateLimiter, rateLimit } from "./rate-limit.ts";
import { MemoryRateLimitStore, NatsKvRateLimitStore, type RateLimitStore } from "./rate-limit-store.ts";
import { securityHeaders } from "./secure-headers.ts";

/** One middleware and the path pattern it is mounted on (`app.use(path, handler)`). */
export interface GatewayMiddleware {
  /** hono path pattern, e.g. `"*"` or `"/graphql"`. */
  path: string;
  handler: MiddlewareHandler;
}

export interface GatewayMiddlewareOptions {
  config: Pick<Config, "corsOrigins" | "maxBodyBytes" | "rateLimitMax" | "rateLimitWindowS" | "trustProxy">;
  jwtSecret: string;
  logger: Logger;
  /** NATS connection of the process (split mode): the rate-limit counters are shared through it. */
  natsConnection?: NatsConnection | undefined;
  /** Registers cleanup for gateway stop. */
  onStop(fn: () => void | Promise<void>): void;
}

/**
 * Builds the middleware list; see the file comment. With a NATS connection the rate limiter
 * counts in JetStream KV (shared by every gateway), else in memory.
 * @returns the middleware in order, and the rate limiter (undefined when `RATE_LIMIT_MAX` is 0),
 *   which the WebSocket server uses for the operations sent on an open socket.
 * @throws when the KV bucket cannot be opened (JetStream disabled on the server).
 */
export async function createGatewayMiddleware(opts: GatewayMiddlewareOptions): Promise<{ middleware: GatewayMiddleware[]; limiter: RateLimiter | undefined }> {
  const { config } = opts;
  const list: GatewayMiddleware[] = [{ path: "*", handler: securityHeaders() }];
  let limiter: RateLimiter | undefined;
  const cors = corsAllowList(config.corsOrigins);
  if (cors) list.push({ path: "/graphql", handler: cors });
  if (config.rateLimitMax > 0) {
    const store: RateLimitStore = opts.natsConnection
      ? await NatsKvRateLimitStore.open(opts.natsConnection, { windowMs: config.rateLimitWindowS * 1000 })
      : new MemoryRateLimitStore();
    opts.onStop(() => store.close());
    opts.logger.info({ store: store.kind, max: config.rateLimitMax, windowS: config.rateLimitWindowS }, "rate limiting on");
    limiter = new RateLimiter(store, { max: config.rateLimitMax, windowS: config.rateLimitWindowS });
    list.push({ path: "/graphql", handler: rateLimit({ limiter, jwtSecret: opts.jwtSecret, trustProxy: config.trustProxy, logger: opts.logger }) });
  }
  list.push({ path: "/graphql", handler: bodySizeLimit(config.maxBodyBytes) });
  return { middleware: list, limiter };
}
