import type { PartContext, PartDefinition } from "../kernel/module.ts";
import { newId } from "../kernel/ids.ts";
import type { Leadership } from "../kernel/supergraph/types.ts";
import { createHttpApp } from "./http.ts";
import { SupergraphComposer } from "./supergraph/composer.ts";
import { SupergraphManager } from "./supergraph/manager.ts";

/** Name under which gateways elect the one aggregator that composes. */
export const AGGREGATOR_ELECTION = "aggregator";

/**
 * The gateway part: serves one GraphQL endpoint over HTTP from the stored supergraph, and
 * takes part in the aggregator election; the elected gateway composes from the registry and
 * stores new versions, every gateway (the leader too) loads them from the store. It never
 * imports modules: everything it knows comes from the registry, the store and the bus.
 */
export function createGatewayPart(opts: { expectedSubgraphs: readonly string[] }): PartDefinition {
  return {
    name: "gateway",
    async start(ctx: PartContext) {
      const { config, logger, bus, registry, supergraphStore: store } = ctx;
      if (!config.jwtSecret) throw new Error("gateway needs JWT_SECRET");
      const manager = new SupergraphManager({ bus, store, logger, subgraphTimeoutMs: config.subgraphTimeoutMs });
      await manager.start();
      const composer = new SupergraphComposer({
        bus,
        registry,
        store,
        logger: logger.child({ role: "aggregator" }),
        sdlTimeoutMs: config.subgraphTimeoutMs,
        onAttempt: (errors, registered) => {
          manager.status.lastErrors = errors;
          manager.status.registered = registered;
        },
      });

      // Election runs in the background: a follower serves what the leader stores.
      let stopped = false;
      let leadership: Leadership | undefined;
      const candidateId = newId();
      const campaign = async (): Promise<void> => {
        while (!stopped) {
          try {
            leadership = await store.campaign(AGGREGATOR_ELECTION, candidateId);
          } catch (err) {
            logger.warn({ err }, "aggregator election failed; retrying");
            await Bun.sleep(1000);
            continue;
          }
          if (stopped) return void (await leadership.resign().catch(() => {}));
          manager.status.aggregator = true;
          logger.info({ candidateId }, "elected aggregator");
          const lost = new Promise<void>((resolve) => leadership?.onLost(resolve));
          await composer.start();
          await lost;
          composer.stop();
          manager.status.aggregator = false;
          if (!stopped) logger.warn("aggregator leadership lost; campaigning again");
        }
      };
      const election = campaign();
      if (store.kind === "memory") {
        // One process: wait for the first composition so the endpoint is usable right away.
        await waitForFirst(manager, 10_000);
      }

      const app = createHttpApp({ manager, logger, jwtSecret: config.jwtSecret, expectedSubgraphs: opts.expectedSubgraphs });
      const server = Bun.serve({ port: config.port, hostname: config.host, fetch: app.fetch, idleTimeout: 30 });
      const url = `http://${config.host}:${server.port}/graphql`;
      logger.info({ url, port: server.port }, `gateway listening on ${url}`);
      return {
        async stop() {
          stopped = true;
          composer.stop();
          manager.stop();
          await leadership?.resign().catch(() => {});
          void election;
          // Stop accepting; let in-flight requests finish.
          await server.stop(false);
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
