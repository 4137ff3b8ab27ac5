import {
  GraphQLError,
  execute,
  getOperationAST,
  parse,
  subscribe,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type FormattedExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from "graphql";
import { jsonPayload } from "../bus/codec.ts";
import type { Bus, Msg, Subscription } from "../bus/types.ts";
import { BusError } from "../bus/errors.ts";
import { AppError, ErrorCode } from "../errors.ts";
import { IDENTITY_HEADER, REQUEST_ID_HEADER, type Identity } from "../identity.ts";
import type { BusIdentity } from "../bus-identity.ts";
import { busIdentityRefused } from "../metrics.ts";
import type { Logger } from "../logger.ts";
import type { SubgraphContext } from "../module.ts";
import { newId } from "../ids.ts";
import { Lru } from "./lru.ts";
import { serveStreams, type StreamOpen } from "../bus/stream.ts";
import { FTV1, FTV1_HEADER, createInlineTracer } from "./inline-trace.ts";
import { createCompiledExecutor } from "./compiled.ts";

/**
 * Subject on which a module's subgraph opens subscription streams (see `../bus/stream.ts`):
 * `graphql.<module>.subscribe`, queue group `<module>`.
 */
export const subgraphStreamSubject = (module: string): string => `graphql.${module}.subscribe`;

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
  /**
   * Verifies the caller identity (`sy-identity`, signed by the gateway). A request whose header
   * is unsigned, forged, expired or bound to another request id is answered UNAUTHENTICATED
   * without running anything; a request without the header runs as anonymous.
   */
  identity: BusIdentity;
  /** Max cached parsed+validated documents. Default 1000. */
  documentCacheSize?: number;
  /** Called once per request handled (for per-instance statistics). */
  onRequest?: () => void;
  /**
   * Subject of subscription streams (default `<subject>.subscribe`); see {@link subgraphStreamSubject}.
   */
  streamSubject?: string;
  /** Heartbeat interval of subscription streams, ms (default 5000). */
  heartbeatMs?: number;
}

/** The logger of one subgraph request, made on first use (see {@link requestLog}). */
interface RequestLog {
  readonly logger: Logger;
}

/**
 * The module logger bound to `request_id` (a pino child), created only when something of the
 * request logs: most fetches log nothing, and a child logger per fetch (bindings serialised,
 * a new logger object) was measurable on the per-request path. The binding is the same when it
 * is made, so lines name the right request even when several requests share an async context.
 */
function requestLog(base: Logger, requestId: string): RequestLog {
  let child: Logger | undefined;
  return {
    get logger() {
      return (child ??= base.child({ request_id: requestId }));
    },
  };
}

/**
 * Serves a subgraph schema over bus request/reply: the reply body is the JSON
 * `ExecutionResult`. Errors: `AppError` keeps its code; bus failures of nested calls become
 * `SERVICE_UNAVAILABLE`; anything else is logged and masked as `INTERNAL_SERVER_ERROR`
 * with the request id, so internals never leak to clients.
 *
 * Subscriptions are served as bus streams on `<subject>.subscribe` (see `../bus/stream.ts`):
 * each event's `ExecutionResult` is one stream item. Draining ends open subscriptions with
 * `SERVICE_UNAVAILABLE` so their clients can subscribe again on another instance.
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

  // Queries and mutations run compiled (graphql-jit); subscriptions and ftv1-traced requests on graphql-js.
  const run = createCompiledExecutor(opts.schema, opts.documentCacheSize ?? 1000);
  const traced = createInlineTracer(opts.schema, (r, ctx) => formatResult(r, ctx.requestId, ctx));
  const contextFor = (identity: Identity | null, headers: Msg["headers"], requestId: string, log: RequestLog): SubgraphContext => ({
    identity,
    requestId,
    get logger() {
      return log.logger;
    },
    headers,
  });
  // The caller, or the refusal to answer instead of running the operation (a forged admin never runs).
  const callerOf = (
    headers: Msg["headers"],
    requestId: string,
    log: RequestLog,
  ): { identity: Identity | null } | { refused: FormattedExecutionResult } => {
    const check = opts.identity.verify(headers[IDENTITY_HEADER], headers[REQUEST_ID_HEADER]);
    if (check.ok) return { identity: check.identity };
    busIdentityRefused.inc({ module: opts.queue, reason: check.reason });
    log.logger.warn({ reason: check.reason }, "caller identity refused (sy-identity not validly signed); nothing executed");
    return {
      refused: {
        errors: [{ message: `caller identity refused: ${check.reason}`, extensions: { code: ErrorCode.UNAUTHENTICATED, requestId } }],
      },
    };
  };

  // Subscriptions: one stream per subscription operation. A non-subscription operation sent
  // here is answered once, so the gateway may route every operation of a stream request here.
  const streams = serveStreams<SubgraphRequest, FormattedExecutionResult>(
    opts.bus,
    opts.streamSubject ?? `${opts.subject}.subscribe`,
    async (req, meta): Promise<StreamOpen<FormattedExecutionResult>> => {
      opts.onRequest?.();
      const requestId = meta.headers[REQUEST_ID_HEADER] ?? newId();
      const log = requestLog(opts.logger, requestId);
      const caller = callerOf(meta.headers, requestId, log);
      if ("refused" in caller) return { result: caller.refused };
      const doc = prepare(req.query);
      if (!("kind" in doc)) return { result: { errors: doc.map((e) => withCode(e, "GRAPHQL_VALIDATION_FAILED")) } };
      const args = {
        schema: opts.schema,
        document: doc,
        variableValues: req.variables ?? undefined,
        operationName: req.operationName ?? undefined,
        contextValue: contextFor(caller.identity, meta.headers, requestId, log),
      };
      if (getOperationAST(doc, req.operationName ?? undefined)?.operation !== "subscription") {
        return { result: formatResult(await execute(args), requestId, log) };
      }
      const res = await subscribe(args);
      if (!(Symbol.asyncIterator in res)) return { result: formatResult(res, requestId, log) };
      log.logger.debug({ operationName: req.operationName }, "subscription started");
      return { stream: mapResults(res, (r) => formatResult(r, requestId, log)) };
    },
    {
      queue: opts.queue,
      ...(opts.heartbeatMs !== undefined ? { heartbeatMs: opts.heartbeatMs } : {}),
      onUnexpected: (err, meta) => opts.logger.error({ err, request_id: meta.headers[REQUEST_ID_HEADER] }, "subscription failed"),
      onStreamEnd: (meta, why) => opts.logger.debug({ request_id: meta.headers[REQUEST_ID_HEADER], why }, "subscription ended"),
    },
  );

  const requests = opts.bus.subscribe(
    opts.subject,
    async (msg: Msg) => {
      opts.onRequest?.();
      const requestId = msg.headers[REQUEST_ID_HEADER] ?? newId();
      const log = requestLog(opts.logger, requestId);
      let result: ExecutionResult | FormattedExecutionResult;
      try {
        const caller = callerOf(msg.headers, requestId, log);
        if ("refused" in caller) {
          result = caller.refused;
        } else {
          const req = msg.json<SubgraphRequest>();
          const doc = prepare(req.query);
          if (!("kind" in doc)) {
            result = { errors: doc.map((e) => withCode(e, "GRAPHQL_VALIDATION_FAILED")) };
          } else {
            const contextValue = contextFor(caller.identity, msg.headers, requestId, log);
            // The gateway asked for an Apollo federated trace (ftv1): see inline-trace.ts.
            result =
              msg.headers[FTV1_HEADER] === FTV1
                ? await traced(req, contextValue)
                : await run({ document: doc, query: req.query, operationName: req.operationName, variables: req.variables, contextValue });
          }
        }
      } catch (err) {
        log.logger.error({ err }, "subgraph request failed");
        result = {
          errors: [new GraphQLError(`internal error (request ${requestId})`, { extensions: { code: ErrorCode.INTERNAL, requestId } })],
        };
      }
      // The result is this request's own (fresh from execute; errors copied by withCode/formatResult):
      // handed to the bus, not encoded in process.
      msg.respond(jsonPayload(formatResult(result, requestId, log)));
    },
    { queue: opts.queue },
  );

  return {
    subject: opts.subject,
    queue: opts.queue,
    unsubscribe() {
      requests.unsubscribe();
      streams.unsubscribe();
    },
    async drain() {
      // Open subscriptions end with SERVICE_UNAVAILABLE (clients subscribe again, reaching another instance).
      await Promise.all([requests.drain(), streams.drain()]);
    },
  };
}

/**
 * Maps each result of a subscription. Not an async generator on purpose: `return()` must
 * reach the source at once (a generator would wait for the pending `next()`, i.e. for the next
 * event, before it could let go of the source's bus subscription).
 */
function mapResults<A, B>(source: AsyncGenerator<A, void, void>, fn: (a: A) => B): AsyncIterableIterator<B> {
  const it: AsyncIterableIterator<B> = {
    async next() {
      const r = await source.next();
      return r.done ? { value: undefined, done: true } : { value: fn(r.value), done: false };
    },
    async return() {
      await source.return();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]: () => it,
  };
  return it;
}

function withCode(err: GraphQLError, code: string): GraphQLFormattedError {
  const f = err.toJSON();
  // Own copies: validation errors are cached with their document, and the reply is handed over
  // as a value on the in-memory bus (the gateway may change what it receives).
  return {
    ...f,
    ...(f.locations ? { locations: f.locations.map((l) => ({ ...l })) } : {}),
    ...(f.path ? { path: [...f.path] } : {}),
    extensions: { ...f.extensions, code: f.extensions?.["code"] ?? code },
  };
}

/** Maps resolver errors to stable codes and masks unexpected ones. */
function formatResult(result: ExecutionResult | FormattedExecutionResult, requestId: string, log: RequestLog): FormattedExecutionResult {
  if (!result.errors?.length) return result as FormattedExecutionResult;
  const errors = result.errors.map((e): GraphQLFormattedError => {
    if (!(e instanceof GraphQLError)) return e;
    const original = e.originalError;
    if (!original || original instanceof AppError || (original instanceof GraphQLError && original.extensions?.["code"])) {
      return withCode(e, ErrorCode.BAD_USER_INPUT);
    }
    if (original instanceof BusError) {
      log.logger.warn({ err: original, path: e.path }, "dependency unavailable");
      return {
        message: `a dependency is unavailable: ${original.message}`,
        path: e.path,
        extensions: { code: ErrorCode.SERVICE_UNAVAILABLE, requestId },
      };
    }
    log.logger.error({ err: original, path: e.path }, "resolver failed");
    return { message: `internal error (request ${requestId})`, path: e.path, extensions: { code: ErrorCode.INTERNAL, requestId } };
  });
  return { ...result, errors } as FormattedExecutionResult;
}
