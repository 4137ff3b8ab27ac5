import { createYoga, type YogaServerInstance } from "graphql-yoga";
import { GraphQLError, GraphQLSchema, GraphQLObjectType, GraphQLString } from "graphql";
import type { Logger } from "../kernel/logger.ts";
import type { GatewayContext } from "./context.ts";
import type { SupergraphManager } from "./supergraph/manager.ts";

// Served while no supergraph exists yet: every operation fails with a clear, stable code.
const NOT_READY = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: "Query",
    fields: {
      _notReady: {
        type: GraphQLString,
        resolve: () => {
          throw new GraphQLError("supergraph not composed yet", { extensions: { code: "SUPERGRAPH_UNAVAILABLE" } });
        },
      },
    },
  }),
});

/**
 * The gateway's GraphQL server (graphql-yoga). The schema is looked up per request from the
 * supergraph manager, which is how a recomposed supergraph is swapped in without a restart.
 */
export function createGatewayYoga(manager: SupergraphManager, logger: Logger): YogaServerInstance<GatewayContext, object> {
  return createYoga<GatewayContext>({
    schema: () => manager.getSchema() ?? NOT_READY,
    graphqlEndpoint: "/graphql",
    graphiql: { title: "Switchyard" },
    landingPage: false,
    logging: {
      debug: (...args) => logger.debug({ args }, "yoga"),
      info: (...args) => logger.info({ args }, "yoga"),
      warn: (...args) => logger.warn({ args }, "yoga"),
      error: (...args) => logger.error({ args }, "yoga"),
    },
  });
}
