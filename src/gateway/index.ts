import { campaignUntilElected } from "../kernel/supergraph-store/election.ts";
import type { PartContext, PartDefinition } from "../kernel/module.ts";
import { gatewayOptions, type GatewayOptions, type GatewayPartContext } from "./options.ts";
import { newId } from "../kernel/ids.ts";
import type { Leadership } from "../kernel/supergraph-store/types.ts";
import { createHttpApp, gatewayAdminRoutes, gatewayHealth } from "./http.ts";
import { startOpsServer, type OpsServer } from "../kernel/ops-http.ts";
import { moduleAdminRoutes } from "../kernel/module-admin.ts";
import { isDevelopment } from "../kernel/config.ts";
import type { Identity } from "../kernel/identity.ts";
import { createGraphQLWsServer, type WsData } from "./ws.ts";
import type { Server } from "bun";
import type { Hono } from "hono";
import { infrastructureHealth } from "../kernel/health.ts";
import { createGatewayPlugins } from "./plugins/index.ts";
import { createGatewayMiddleware } from "./middleware/index.ts";
import { createOperationCaches } from "./plugins/operation-cache.ts";
import { SubscriptionSlots } from "./plugins/subscription-limits.ts";
import { createSessionGuard } from "./sessions.ts";
import { SupergraphComposer } from "./federation/composer.ts";
import { COMPOSITION_ENGINE, fileCompositionCache } from "./federation/composition-cache.ts";
import { PRECOMPOSED } from "./federation/precomposed.ts";
import { join } from "node:path";
import { SupergraphManager } from "./federation/manager.ts";
import { staticSupergraph } from "./federation/static.ts";
import { supergraphStatus } from "./federation/status.ts";
import { createGatewayYoga } from "./yoga.ts";
import { readFileSync } from "node:fs";

/**
 * What a started gateway serves, handed to `onListening`: its hono app (requests without a socket
 * through hono's `app.request()`, e.g. in tests) and the ports it bound (PORT=0 / OPS_PORT=0 pick free ones).
 */
export interface GatewayListening {
  /** The public HTTP surface (`/graphql`, `/health/*`), the same app the listener serves. */
  app: Hono;
  /** Base URL of the public listener, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** Base URL of the operations listener (`/metrics`, `/admin/*`), e.g. `http://127.0.0.1:41235`. */
  opsUrl: string;
}

/** Name under which gateways elect the one aggregator that composes. */
export const AGGREGATOR_ELECTION = "aggregator";

/**
 * The gateway part: serves one GraphQL endpoint over HTTP from the stored supergraph, and
 * takes part in the aggregator election; the elected gateway composes from the registry and
 * stores new versions, every gateway (the leader too) loads them from the store. It never
 * imports modules: everything it knows comes from the registry, the store and the bus.
 */
export function createGatewayPart(opts: {
  expectedSubgraphs: readonly string[];
  /** Called once both listeners are up (see {@link GatewayListening}). */
  onListening?: (listening: GatewayListening) => void;
}): PartDefinition<GatewayOptions> {
  return {
    name: "gateway",
    options: gatewayOptions,
    async start(partCtx: PartContext<GatewayOptions>) {
      // One config object for the gateway's code: the kernel's settings and the gateway's options.
      const ctx: GatewayPartContext = { ...partCtx, config: { ...partCtx.config, ...partCtx.options } };
      const { config, logger, bus, registry, supergraphStore: store } = ctx;
      if (!config.jwtSecret) throw new Error("gateway needs JWT_SECRET");
      const manager = new SupergraphManager({
        bus,
        store,
        logger,
        subgraphTimeoutMs: config.subgraphTimeoutMs,
        subscriptionHeartbeatMs: config.subscriptionHeartbeatMs,
        queryPlanner: config.queryPlanner,
        identity: ctx.busIdentity,
        dedup: config.subgraphDedup,
      });
      // --supergraph: serve that file as is (no registry, no composition, no election).
      const fixed = config.supergraphFile ? staticSupergraph(readFileSync(config.supergraphFile, "utf8")) : undefined;
      if (fixed) await manager.loadStatic(fixed);
      else await manager.start();
      const composer = new SupergraphComposer({
        bus,
        registry,
        store,
        logger: logger.child({ role: "aggregator" }),
        sdlTimeoutMs: config.subgraphTimeoutMs,
        cache: fileCompositionCache(join(config.dataDir, "supergraph-cache"), COMPOSITION_ENGINE, PRECOMPOSED),
      });

      // Election runs in the background: a follower serves what the leader stores.
      let stopped = false;
      /** Whether this gateway is the elected aggregator; owned by the election loop below. */
      let aggregator = false;
      // Each field read from its one owner: served supergraph (manager), attempts (composer), role (election).
      const status = supergraphStatus({ manager, composer, aggregator: () => aggregator });
      let leadership: Leadership | undefined;
      const candidateId = newId();
      const campaign = async (): Promise<void> => {
        while (!stopped) {
          // Retried every second while etcd fails; a leadership won after stop is resigned.
          leadership = await campaignUntilElected(store, AGGREGATOR_ELECTION, candidateId, { stopped: () => stopped, logger });
          if (leadership === undefined) return;
          aggregator = true;
          logger.info({ candidateId }, "elected aggregator");
          const lost = new Promise<void>((resolve) => leadership?.onLost(resolve));
          await composer.start();
          await lost;
          composer.stop();
          aggregator = false;
          if (!stopped) logger.warn("aggregator leadership lost; campaigning again");
        }
      };
      const election = fixed ? Promise.resolve() : campaign();
      if (store.kind === "memory" && !fixed) {
        // One process: wait for the first composition so the endpoint is usable right away.
        await waitForFirst(manager, 10_000);
      }

      const stopHooks: (() => void | Promise<void>)[] = [];
      // Protection at the HTTP edge (headers, CORS, client IP, rate limit, body size); see middleware/index.ts.
      const { middleware, limits } = await createGatewayMiddleware({
        config,
        jwtSecret: config.jwtSecret,
        logger,
        natsConnection: ctx.natsConnection,
        onStop: (fn) => void stopHooks.push(fn),
      });
      const subscriptionSlots = new SubscriptionSlots({
        perConnection: config.maxSubscriptionsPerConnection,
        perAccount: config.maxSubscriptionsPerAccount,
        perIp: config.maxSubscriptionsPerIp,
      });
      const plugins = createGatewayPlugins({
        part: ctx,
        manager,
        onStop: (fn) => void stopHooks.push(fn),
        rateLimits: limits,
        subscriptionSlots,
      });
      // Tokens of missing/disabled accounts and revoked sessions are refused (account.session.check, cached);
      // not with a --supergraph file without the account subgraph (nobody there issues or revokes tokens).
      const sessions =
        fixed && !Object.keys(fixed.subgraphs).includes("account")
          ? undefined
          : createSessionGuard({
              bus,
              logger,
              ttlMs: config.sessionCheckTtlMs,
              max: config.sessionCheckMax,
              timeoutMs: config.subgraphTimeoutMs,
            });
      if (sessions) stopHooks.push(() => sessions.stop());
      // One yoga for both transports, built here (the composition root) and handed to each.
      const yoga = createGatewayYoga(manager, logger, plugins, createOperationCaches(config.operationCacheMax), {
        graphiql: config.graphiql,
        production: !isDevelopment(config),
      });
      // GraphQL over WebSocket on the same /graphql (ws.ts); everything else is the hono app.
      const ws = createGraphQLWsServer({
        yoga,
        jwtSecret: config.jwtSecret,
        logger,
        limits,
        subscriptionSlots,
        sessions,
        maxJsonDepth: config.maxJsonDepth,
      });
      const app = createHttpApp({
        yoga,
        status,
        sessions,
        upgradeWebSocket: (req, srv, clientIp) => ws.upgrade(req, srv as Server<WsData>, clientIp),
        logger,
        jwtSecret: config.jwtSecret,
        expectedSubgraphs: fixed ? Object.keys(fixed.subgraphs) : opts.expectedSubgraphs,
        middleware,
      });
      const server = Bun.serve<WsData>({
        port: config.port,
        hostname: config.host,
        // WebSocket upgrades go through the hono app too (see createHttpApp's upgradeWebSocket),
        // so they pass the same rate limit and headers as every other /graphql request.
        fetch: (req, srv) => app.fetch(req, srv),
        // A WebSocket message is bounded like an HTTP body (Bun's default would be 16 MiB).
        websocket: { ...ws.websocket, maxPayloadLength: config.maxBodyBytes },
        idleTimeout: 30,
      });
      const url = `http://${config.host}:${server.port}/graphql`;
      // The runtime of queries and mutations (QUERY_PLANNER); subscriptions always run on js.
      logger.info(
        { url, port: server.port, queryPlanner: config.queryPlanner },
        `gateway listening on ${url} (query planner: ${config.queryPlanner})`,
      );
      // /metrics and /admin/* on their own listener (OPS_HOST:OPS_PORT), not the public port.
      let ops: OpsServer;
      try {
        ops = startOpsServer(config, {
          logger,
          jwtSecret: config.jwtSecret,
          // An admin token of a missing or disabled account, or of a revoked session, is refused like on /graphql.
          ...(sessions
            ? {
                checkIdentity: async (identity: Identity) => {
                  const v = await sessions.check(identity);
                  return v.ok ? undefined : { status: v.status, code: v.code, message: v.reason };
                },
              }
            : {}),
          health: async () => ({ ...gatewayHealth(status), ...(await infrastructureHealth(bus, registry)) }),
          // The supergraph's status, and pause/resume of the modules this process runs (module-admin.ts).
          routes: (app) => {
            gatewayAdminRoutes(status)(app);
            moduleAdminRoutes(ctx.modules)(app);
          },
        });
      } catch (err) {
        await server.stop(true);
        throw err;
      }
      opts.onListening?.({ app, url: `http://${config.host}:${server.port}`, opsUrl: ops.url });
      return {
        async stop() {
          stopped = true;
          composer.stop();
          manager.stop();
          await leadership?.resign().catch(() => {});
          void election;
          // Open subscriptions never finish by themselves: end them with a reconnectable last
          // result (GATEWAY_SHUTTING_DOWN), so their SSE responses and WebSocket operations complete.
          const ended = manager.subscriptions.endAll();
          if (ended > 0) logger.info({ subscriptions: ended }, "open subscriptions ended for shutdown");
          // Stop accepting; let in-flight requests finish.
          // Bounded by DRAIN_TIMEOUT_MS: a request still running then is cut off, not waited for forever.
          let timer: ReturnType<typeof setTimeout> | undefined;
          const drained = await Promise.race([
            server.stop(false).then(() => true),
            new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), config.drainTimeoutMs))),
          ]);
          clearTimeout(timer);
          if (!drained) {
            logger.warn(
              { drainTimeoutMs: config.drainTimeoutMs },
              "in-flight HTTP requests still running after DRAIN_TIMEOUT_MS; closing them",
            );
            await server.stop(true);
          }
          await ops.stop();
          for (const fn of stopHooks)
            await Promise.resolve()
              .then(fn)
              .catch((err: unknown) => logger.warn({ err }, "gateway plugin cleanup failed"));
          logger.info("gateway stopped");
        },
      };
    },
  };
}

function waitForFirst(manager: SupergraphManager, timeoutMs: number): Promise<void> {
  if (manager.getSchema()) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => (off(), resolve()), timeoutMs);
    const off = manager.onChange(() => {
      clearTimeout(t);
      off();
      resolve();
    });
  });
}
