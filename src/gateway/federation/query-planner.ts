import {
  GraphQLEnumType,
  GraphQLError,
  Kind,
  buildASTSchema,
  getOperationAST,
  parse,
  print,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLSchema,
} from "graphql";
import { unifiedGraphHandler } from "@graphql-hive/router-runtime";
import type { ExecutionRequest, Executor } from "@graphql-tools/utils";
import { Lru } from "../../kernel/subgraph/lru.ts";
import type { Logger } from "../../kernel/logger.ts";
import type { GatewayPlugin } from "../plugins/types.ts";
import { requestErrorResult } from "../plugins/request-errors.ts";

/**
 * Code of the error answered when the query planner cannot plan a (valid) operation on the
 * served supergraph, e.g. a supergraph whose fields cannot all be reached from the root
 * ("walker failed to locate path"). The planner's reason is logged, not sent.
 */
export const QUERY_PLAN_FAILED = "QUERY_PLAN_FAILED";

/**
 * Whether `err` was thrown by the Rust query planner while planning (its native errors carry a
 * napi status `code`, e.g. "GenericFailure", and "Failed to plan query: <reason>"); errors of
 * executing a plan are never such.
 */
export function isPlanningError(err: unknown): err is Error {
  if (!(err instanceof Error)) return false;
  return (
    err.message.startsWith("Failed to plan query") ||
    err.message.startsWith("Failed to parse query") ||
    err.message.startsWith("Failed to normalize operation") ||
    (err as { code?: unknown }).code === "GenericFailure"
  );
}

/**
 * Which runtime plans and executes queries and mutations (`QUERY_PLANNER`):
 * - `js`: `@graphql-tools/federation`'s stitching runtime (delegation planned per field at run time);
 * - `rust`: The Guild's Rust query planner (`@graphql-hive/router-query-planner`, via
 *   `@graphql-hive/router-runtime`): one plan per operation, cached, executed against the same
 *   per-subgraph executors (bus or HTTP) as the stitching runtime.
 * Subscriptions always run on the stitching runtime (see {@link useQueryPlanner}).
 */
export type QueryPlannerKind = "js" | "rust";

/**
 * Builds the Rust-planned executor of one supergraph version: Hive Gateway's "unified graph
 * handler" for the Rust planner, fed with the supergraph SDL and calling `executors[subgraph]`
 * for every fetch of a plan (the same executors the stitching runtime uses: breaker, retry,
 * metrics and identity headers on the bus; `@graphql-tools/executor-http` for http URLs).
 * @param sdl the supergraph SDL (Federation v2, `join__*` directives).
 * @param executors subgraph executors by the stitching runtime's subgraph names (`join__Graph` values).
 * @returns an executor for query and mutation requests on the supergraph's public schema.
 * @throws Error when the planner rejects the supergraph; the returned executor throws (rejects)
 *   for a fetch to a subgraph absent from `executors`.
 */
export async function createRustPlannedExecutor(sdl: string, executors: ReadonlyMap<string, Executor>): Promise<Executor> {
  // As Hive Gateway builds it (fusion-runtime's ensureSchema): the supergraph itself, not validated again.
  const unifiedGraph = buildASTSchema(parse(sdl, { noLocation: true }), { assumeValid: true, assumeValidSDL: true });
  // The planner names subgraphs by `@join__graph(name:)` ("catalog"), the stitching runtime by
  // the `join__Graph` enum value ("CATALOG"): map the former to the executors of the latter.
  const byPlannerName = new Map<string, Executor>();
  const graphs = unifiedGraph.getType("join__Graph");
  if (graphs instanceof GraphQLEnumType) {
    for (const value of graphs.getValues()) {
      const executor = executors.get(value.name);
      const name = value.astNode?.directives
        ?.find((d) => d.name.value === "join__graph")
        ?.arguments?.find((a) => a.name.value === "name")?.value;
      if (executor && name?.kind === Kind.STRING) byPlannerName.set(name.value, executor);
    }
  }
  const handled = await unifiedGraphHandler({
    unifiedGraph,
    getUnifiedGraphSDL: () => sdl,
    onSubgraphExecute: (subgraph: string, request: ExecutionRequest) => {
      const executor = byPlannerName.get(subgraph) ?? executors.get(subgraph);
      if (!executor) throw new Error(`query plan fetches from unknown subgraph ${subgraph}`);
      return Promise.resolve(executor(request)).then(asGraphQLErrors);
    },
  });
  const executor = handled.executor;
  if (!executor) throw new Error("@graphql-hive/router-runtime returned no executor");
  return executor;
}

/** A GraphQL error as JSON in a subgraph's response. */
interface SubgraphErrorJson {
  message: string;
  path?: readonly (string | number)[];
  extensions?: Record<string, unknown>;
}

/**
 * Subgraph results carry errors as JSON (`{ message, path, extensions }`). The stitching runtime
 * turns them into `GraphQLError`s; the router runtime passes an error that already has a path
 * through as it is, and a plain object in a result's `errors` would be masked as an unexpected
 * error by yoga. Converted here (message, path and extensions kept; subgraph-document locations dropped,
 * as the stitching runtime does).
 */
function asGraphQLErrors<T>(result: T): T {
  if (!result || typeof result !== "object" || Symbol.asyncIterator in result) return result;
  // Typed as what arrives over the wire: GraphQLErrors or their JSON.
  const errors = (result as { errors?: readonly (GraphQLError | SubgraphErrorJson)[] }).errors;
  if (!errors?.length || errors.every((e) => e instanceof GraphQLError)) return result;
  const converted = errors.map((e) =>
    e instanceof GraphQLError
      ? e
      : new GraphQLError(e.message, { ...(e.path ? { path: e.path } : {}), ...(e.extensions ? { extensions: e.extensions } : {}) }),
  );
  return { ...result, errors: converted };
}

/** Options of {@link useQueryPlanner}. */
export interface QueryPlannerPluginOptions {
  /**
   * The Rust-planned executor of the supergraph version whose schema an operation runs on
   * (`args.schema`), or undefined when that version has none (`QUERY_PLANNER=js`, or the
   * placeholder schema served before the first supergraph).
   */
  executorFor(schema: GraphQLSchema): Executor | undefined;
  /** Max distinct operation texts whose canonical document is kept (LRU), entries; >= 1. */
  maxOperations: number;
  /** Where planning failures are logged (warn, with the planner's reason and the request id). */
  logger: Logger;
}

/**
 * Envelop plugin that executes queries and mutations with the Rust-planned executor of the
 * operation's supergraph version; it must be the first plugin to touch `executeFn` (yoga.ts puts
 * it right after the schema plugin), so that the response cache, which wraps the execute function
 * it finds, wraps this one.
 *
 * What stays as it was: yoga's schema is still the stitched schema, so validation, the
 * authorization directives (`@envelop/generic-auth` reads `@authenticated` / `@requiresScopes`
 * from it and removes denied fields from the document before execution), limits and the
 * response cache (which never changes the document) see the same schema; the authorization
 * plugin hands its rewritten document to this executor. Left on the stitching runtime:
 * - subscriptions (yoga's `subscribe`, not `execute`): the Rust plan's `Subscription` node only
 *   covers the primary fetch, while the stitching runtime resolves entity fields of every event
 *   and our bus streams (subscription-executor.ts) plug into it;
 * - introspection-only operations (`__schema`, `__type`, `__typename` at the root), answered
 *   from the stitched schema exactly as before (the handler would answer from its own copy).
 *
 * Failures: a document the planner cannot plan answers {@link QUERY_PLAN_FAILED} (the reason is
 * logged), any other error thrown while executing a plan an `INTERNAL_SERVER_ERROR` with the
 * request id (error-masking.ts) — never an HTTP 500.
 *
 * Plan reuse: the handler caches plans by `DocumentNode` identity, but the authorization
 * plugin builds a new document for every request. The executor therefore gets a
 * canonical document per operation text (an LRU of `maxOperations`), so a repeated operation is
 * planned once; the print this costs is far cheaper than planning, and is skipped for a document
 * object seen before.
 */
export function useQueryPlanner(opts: QueryPlannerPluginOptions): GatewayPlugin {
  const canonical = new Lru<string, DocumentNode>(opts.maxOperations);
  // Documents seen before (yoga's parse cache hands out the same object for the same text when
  // no plugin rewrote it): no print at all.
  const seen = new WeakMap<DocumentNode, DocumentNode>();
  const canonicalOf = (doc: DocumentNode): DocumentNode => {
    const direct = seen.get(doc);
    if (direct) return direct;
    const text = print(doc);
    let known = canonical.get(text);
    if (!known) canonical.set(text, (known = doc));
    seen.set(doc, known);
    return known;
  };
  return {
    onExecute({ args, setExecuteFn }) {
      const executor = opts.executorFor(args.schema);
      if (!executor) return;
      const op = getOperationAST(args.document, args.operationName);
      if (!op || op.operation === "subscription" || isIntrospectionOnly(args.document, args.operationName)) return;
      setExecuteFn((a: ExecutionArgs) => {
        // The authorization plugin removed every root field (all denied): nothing to plan or
        // fetch; its errors and nulls are added to this empty result, as after graphql-js's execute.
        if (getOperationAST(a.document, a.operationName)?.selectionSet.selections.length === 0) return { data: {} };
        const run = async (): Promise<ExecutionResult> =>
          (await executor({
            document: canonicalOf(a.document),
            variables: a.variableValues ?? {},
            context: a.contextValue as Record<string, unknown>,
            rootValue: a.rootValue,
            ...(a.operationName != null ? { operationName: a.operationName } : {}),
          })) as ExecutionResult;
        // A rejection would reach yoga as an HTTP 500 "Unexpected error." (and a log line without
        // the reason): answered as a GraphQL error instead.
        return run().catch((err: unknown) => failedExecution(err, a, opts.logger));
      });
    },
  };
}

/**
 * The result of an operation whose planned execution threw: {@link QUERY_PLAN_FAILED} (logged
 * with the planner's reason) when the planner could not plan it; anything else becomes an
 * uncoded error with the original attached, which yoga masks (error-masking.ts), logs and answers as
 * `INTERNAL_SERVER_ERROR` with the request id.
 */
function failedExecution(err: unknown, args: ExecutionArgs, logger: Logger): ExecutionResult {
  const requestId = (args.contextValue as { requestId?: string } | undefined)?.requestId;
  if (isPlanningError(err)) {
    logger.warn(
      { request_id: requestId, operationName: args.operationName ?? undefined, reason: err.message },
      "query planner could not plan the operation",
    );
    return {
      errors: [
        new GraphQLError("the query planner could not plan this operation on the served supergraph", {
          extensions: { code: QUERY_PLAN_FAILED },
        }),
      ],
    };
  }
  // A request error (variables that do not coerce): answered as such, coded (request-errors.ts).
  try {
    return requestErrorResult(err);
  } catch {
    // not a request error: masked below
  }
  const original = err instanceof Error ? err : new Error(String(err));
  return { errors: [new GraphQLError(original.message, { originalError: original })] };
}

/** True when every root field of the operation is `__schema`, `__type` or `__typename`. */
function isIntrospectionOnly(doc: DocumentNode, operationName: string | null | undefined): boolean {
  const op = getOperationAST(doc, operationName);
  if (!op) return false;
  return op.selectionSet.selections.every(
    (s) => s.kind === "Field" && (s.name.value === "__schema" || s.name.value === "__type" || s.name.value === "__typename"),
  );
}
