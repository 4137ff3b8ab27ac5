import type { PartContext, PartDefinition } from "../kernel/module.ts";
import { createHttpApp } from "./http.ts";
import { SupergraphManager } from "./supergraph/manager.ts";

/**
 * The gateway part: discovers subgraphs through the registry, composes the supergraph and
 * serves one GraphQL endpoint over HTTP. It never imports modules: everything it knows comes
 * from the registry and the bus.
 */
export const gatewayPart: PartDefinition = {
  name: "gateway",
  async start(ctx: PartContext) {
    const { config, logger } = ctx;
    if (!config.jwtSecret) throw new Error("gateway needs JWT_SECRET");
    const manager = new SupergraphManager({ bus: ctx.bus, registry: ctx.registry, logger, subgraphTimeoutMs: config.subgraphTimeoutMs });
    await manager.start();
    const app = createHttpApp({ manager, logger, jwtSecret: config.jwtSecret, expectedSubgraphs: ctx.localModules });
    const server = Bun.serve({ port: config.port, hostname: config.host, fetch: app.fetch, idleTimeout: 30 });
    const url = `http://${config.host}:${server.port}/graphql`;
    logger.info({ url, port: server.port }, `gateway listening on ${url}`);
    return {
      async stop() {
        manager.stop();
        // Stop accepting; let in-flight requests finish.
        await server.stop(false);
        logger.info("gateway stopped");
      },
    };
  },
};
