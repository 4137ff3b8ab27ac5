import { createYoga, type YogaServerInstance } from "graphql-yoga";
import { GraphQLError, GraphQLSchema, GraphQLObjectType, GraphQLString } from "graphql";
import type { Logger } from "../kernel/logger.ts";
import type { GatewayContext } from "./context.ts";
import type { SupergraphManager } from "./federation/manager.ts";
import type { GatewayPlugin } from "./plugins/types.ts";
import type { OperationCaches } from "./plugins/operation-cache.ts";
import { useQueryPlanner } from "./federation/query-planner.ts";
import { useRequestErrors } from "./plugins/request-errors.ts";
import { useErrorRequestIds } from "./plugins/request-ids.ts";
import { gatewayMaskedErrors, loggedWithRequestId } from "./error-masking.ts";

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

/** The gateway's yoga server: built once (index.ts), served over HTTP (http.ts) and WebSocket (ws.ts). */
export type GatewayYoga = YogaServerInstance<GatewayContext, object>;

/** Per-environment switches of the yoga server (protection; see README "Protection"). */
export interface GatewayYogaOptions {
  /** Serve GraphiQL on GET /graphql to browsers; default true. */
  graphiql?: boolean;
  /**
   * NODE_ENV=production: unexpected errors say `internal error (request <id>)`, and no error
   * carries `originalError` details (error-masking.ts).
   */
  production?: boolean;
}

/**
 * The gateway's GraphQL server (graphql-yoga). The schema is looked up per request from the
 * supergraph manager, which is how a recomposed supergraph is swapped in without a restart.
 * `plugins` (see plugins/index.ts) add the gateway's capabilities (authorization, ...).
 */
export function createGatewayYoga(
  manager: Pick<SupergraphManager, "getSchema" | "getPlannedExecutor">,
  logger: Logger,
  plugins: readonly GatewayPlugin[] = [],
  operationCaches?: OperationCaches,
  options: GatewayYogaOptions = {},
): GatewayYoga {
  return createYoga<GatewayContext>({
    // Bounded parse caches (plugins/operation-cache.ts); yoga's default LRU when not given.
    parserAndValidationCache: operationCaches
      ? { documentCache: operationCaches.documentCache, errorCache: operationCaches.errorCache }
      : true,
    // Assembled by plugins/index.ts (createGatewayPlugins).
    // First: the current supergraph, set when each operation's envelop is created, over HTTP
    // and WebSocket alike (yoga's `schema: () => ...` factory only hooks HTTP request parsing,
    // so ws.ts's getEnveloped would find no schema). An operation keeps the schema it started
    // with across a swap (open subscriptions included).
    plugins: [
      { onEnveloped: ({ setSchema }: { setSchema: (schema: GraphQLSchema) => void }) => setSchema(manager.getSchema() ?? NOT_READY) },
      // QUERY_PLANNER=rust: queries and mutations of that schema run on its Rust-planned executor
      // (before any plugin wraps the execute function; see supergraph/query-planner.ts).
      useQueryPlanner({
        executorFor: (schema) => manager.getPlannedExecutor(schema),
        maxOperations: operationCaches?.documentCache.capacity ?? 1000,
        logger,
      }),
      ...plugins,
      // extensions.requestId on every error; errors yoga masked (maskedErrors below) finished with it.
      useErrorRequestIds({ production: options.production === true }),
      // Last: codes and statuses of request errors (415, 406, missing query, variables); see the file.
      useRequestErrors(),
    ],
    graphqlEndpoint: "/graphql",
    graphiql: options.graphiql === false ? false : { title: "Switchyard" },
    // GraphiQL with its scripts, styles and workers inlined (no CDN: it works offline and behind
    // a strict egress policy). Loaded on the first page view only: the bundle is ~9 MB of source.
    renderGraphiQL: async (opts) => (await import("@graphql-yoga/render-graphiql")).renderGraphiQL(opts),
    // CORS is the allow-list middleware's job (middleware/cors.ts); yoga's default would allow any origin.
    cors: false,
    // Unexpected errors, in results and thrown outside execution alike: see error-masking.ts.
    maskedErrors: gatewayMaskedErrors({ production: options.production === true, logger }),
    landingPage: false,
    logging: {
      debug: (...args) => logger.debug(yogaLog(args), "yoga"),
      info: (...args) => logger.info(yogaLog(args), "yoga"),
      warn: (...args) => logger.warn(yogaLog(args), "yoga"),
      // An error yoga masked with the gateway's maskError is logged by the gateway, with its request id.
      error: (...args) => {
        if (args.length === 1 && loggedWithRequestId(args[0])) return;
        logger.error(yogaLog(args), "yoga");
      },
    },
  });
}

/**
 * Yoga's log arguments as pino fields: an Error goes under `err` (pino's error serializer keeps
 * its message and stack; inside an array it was serialized as `{}`), the rest under `args`.
 */
function yogaLog(args: unknown[]): { err?: unknown; args?: unknown[] } {
  const err = args.find((a) => a instanceof Error);
  const rest = args.filter((a) => a !== err);
  return { ...(err ? { err } : {}), ...(rest.length ? { args: rest } : {}) };
}
