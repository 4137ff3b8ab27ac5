import { GraphQLError, execute, parse, validate, type DocumentNode, type ExecutionResult, type FormattedExecutionResult, type GraphQLFormattedError, type GraphQLSchema } from "graphql";
import { encodeJson } from "../bus/codec.ts";
import type { Bus, Msg, Subscription } from "../bus/types.ts";
import { BusError } from "../bus/errors.ts";
import { AppError, ErrorCode } from "../errors.ts";
import { IDENTITY_HEADER, REQUEST_ID_HEADER, decodeIdentity } from "../identity.ts";
import type { Logger } from "../logger.ts";
import type { SubgraphContext } from "../module.ts";
import { newId } from "../ids.ts";
import { Lru } from "./lru.ts";

/** Body of a subgraph request on `graphql.<module>` (GraphQL over HTTP's JSON body, on the bus). */
export interface SubgraphRequest {
  query: string;
  variables?: Record<string, unknown> | null;
  operationName?: string | null;
}

export interface SubgraphServerOptions {
  bus: Bus;
  /** Subject to serve, e.g. `graphql.catalog`. */
  subject: string;
  /** Queue group (the module name) so N instances share requests. */
  queue: string;
  schema: GraphQLSchema;
  logger: Logger;
  /** Max cached parsed+validated documents. Default 1000. */
  documentCacheSize?: number;
  /** Called once per request handled (for per-instance statistics). */
  onRequest?: () => void;
}

/**
 * Serves a subgraph schema over bus request/reply: the reply body is the JSON
 * `ExecutionResult`. Errors: `AppError` keeps its code; bus failures of nested calls become
 * `SERVICE_UNAVAILABLE`; anything else is logged and masked as `INTERNAL_SERVER_ERROR`
 * with the request id, so internals never leak to clients.
 */
export function serveSubgraph(opts: SubgraphServerOptions): Subscription {
  const cache = new Lru<string, DocumentNode | readonly GraphQLError[]>(opts.documentCacheSize ?? 1000);
  const prepare = (query: string): DocumentNode | readonly GraphQLError[] => {
    let doc = cache.get(query);
    if (doc) return doc;
    try {
      const parsed = parse(query);
      const errors = validate(opts.schema, parsed);
      doc = errors.length ? errors : parsed;
    } catch (err) {
      doc = [err instanceof GraphQLError ? err : new GraphQLError(String(err))];
    }
    cache.set(query, doc);
    return doc;
  };

  return opts.bus.subscribe(
    opts.subject,
    async (msg: Msg) => {
      opts.onRequest?.();
      const requestId = msg.headers[REQUEST_ID_HEADER] ?? newId();
      const logger = opts.logger.child({ request_id: requestId });
      let result: ExecutionResult | FormattedExecutionResult;
      try {
        const req = msg.json<SubgraphRequest>();
        const doc = prepare(req.query);
        if (!("kind" in doc)) {
          result = { errors: doc.map((e) => withCode(e, "GRAPHQL_VALIDATION_FAILED")) };
        } else {
          const contextValue: SubgraphContext = {
            identity: decodeIdentity(msg.headers[IDENTITY_HEADER]),
            requestId,
            logger,
            headers: msg.headers,
          };
          result = await execute({
            schema: opts.schema,
            document: doc,
            variableValues: req.variables ?? undefined,
            operationName: req.operationName ?? undefined,
            contextValue,
          });
        }
      } catch (err) {
        logger.error({ err }, "subgraph request failed");
        result = { errors: [new GraphQLError(`internal error (request ${requestId})`, { extensions: { code: ErrorCode.INTERNAL, requestId } })] };
      }
      msg.respond(encodeJson(formatResult(result, requestId, logger)));
    },
    { queue: opts.queue },
  );
}

function withCode(err: GraphQLError, code: string): GraphQLFormattedError {
  const f = err.toJSON();
  return { ...f, extensions: { ...f.extensions, code: f.extensions?.["code"] ?? code } };
}

/** Maps resolver errors to stable codes and masks unexpected ones. */
function formatResult(result: ExecutionResult | FormattedExecutionResult, requestId: string, logger: Logger): FormattedExecutionResult {
  if (!result.errors?.length) return result as FormattedExecutionResult;
  const errors = result.errors.map((e): GraphQLFormattedError => {
    if (!(e instanceof GraphQLError)) return e;
    const original = e.originalError;
    if (!original || original instanceof AppError || (original instanceof GraphQLError && original.extensions?.["code"])) {
      return withCode(e, ErrorCode.BAD_USER_INPUT);
    }
    if (original instanceof BusError) {
      logger.warn({ err: original, path: e.path }, "dependency unavailable");
      return { message: `a dependency is unavailable: ${original.message}`, path: e.path, extensions: { code: ErrorCode.SERVICE_UNAVAILABLE, requestId } };
    }
    logger.error({ err: original, path: e.path }, "resolver failed");
    return { message: `internal error (request ${requestId})`, path: e.path, extensions: { code: ErrorCode.INTERNAL, requestId } };
  });
  return { ...result, errors } as FormattedExecutionResult;
}
