import { GraphQLError, OperationTypeNode, getOperationAST, type ExecutionResult } from "graphql";
import type { ExecutionRequest, Executor } from "@graphql-tools/utils";
import { SpanKind, trace, type SpanContext } from "@opentelemetry/api";
import { deduplicatedFetchTally } from "../kernel/metrics.ts";
import { tracer, unsampledActiveSpan } from "../kernel/tracing.ts";
import type { GatewayContext } from "./context.ts";
import { subgraphTimingsRequested } from "./plugins/subgraph-timings.ts";
import { printRequestDocument } from "./print-request.ts";

/** One fetch in flight: the callers that joined it after it started wait on `waiters`. */
interface InFlight {
  waiters: { resolve(r: ExecutionResult): void; reject(e: unknown): void }[];
  /** Span context of the caller that started the fetch, linked from each waiter's span. */
  leader: SpanContext | undefined;
}

/**
 * Wraps the executor of one subgraph (bus or HTTP) so that identical *query* fetches in flight
 * at the same time share one execution: the first caller runs `executor`, every identical
 * caller that arrives before it settles waits for that result instead of sending its own
 * fetch. Nothing is kept once the fetch settles (this is no cache: a fetch that starts after
 * the previous one answered runs again).
 *
 * The same idea as Apollo Router's `traffic_shaping.all.deduplicate_query`
 * (https://www.apollographql.com/docs/graphos/routing/performance/traffic-shaping) and Hive
 * Gateway's in-flight request deduplication, on by default there too
 * (https://the-guild.dev/graphql/hive/docs/gateway/other-features/performance/deduplicate-request,
 * `deduplicateInflightRequests` of `@graphql-tools/executor-http`, which keys by URL, method,
 * body and the custom headers of the request and hands each caller a copy of `data`).
 *
 * Identical means the same key ({@link dedupKey}): subgraph, operation name, the caller's
 * identity (every field of {@link GatewayContext.identity}: account id, roles, session id; the
 * two executors forward nothing else of the caller that a subgraph can answer by), variables
 * and extensions (stable serialisation: key order does not matter), printed document. Not in
 * the key: the request id (the shared fetch carries the first caller's) and the trace context
 * (each waiter gets its own `subgraph <name>` span, marked `switchyard.subgraph.deduplicated`
 * and linked to the span of the caller whose fetch answered it).
 *
 * Never shared: mutations and subscriptions (only `query` fetches are), and fetches of an
 * operation whose client asked for subgraph timings (their reply carries that request's ftv1
 * trace, which the executor consumes).
 *
 * Results: the caller that ran the fetch gets the result as it arrived; each waiter a deep copy
 * of its `data`, `errors` and `extensions`, made before any caller sees the result — the query
 * runtimes merge later fetches into the objects of earlier ones (`Object.assign` of entities
 * into the fetched objects), so a shared object would leak one operation's merges into
 * another's response. A copy costs about 0.6 µs per KB of result (Bun, measured on the
 * benchmark fixture's shapes), paid only by waiters. A fetch that throws rejects every waiter
 * with the same error; a timeout or an unreachable subgraph (answered by the executors as a
 * `SUBGRAPH_UNAVAILABLE` result) reaches every waiter as that result.
 *
 * The shared fetch runs without the first caller's abort signal (when its request has one),
 * so one client going away cannot fail the fetch for the others; the subgraph timeout still
 * bounds it. `switchyard_subgraph_fetch_deduplicated_total{subgraph}` counts the fetches
 * answered by another caller's execution.
 * @param executor the subgraph's executor (createBusExecutor / createHttpSubgraphExecutor).
 * @param subgraph subgraph name, for the key, the metric and the waiters' spans.
 */
export function withDeduplication(executor: Executor, subgraph: string): Executor {
  const inFlight = new Map<string, InFlight>();
  const deduplicated = deduplicatedFetchTally(subgraph);
  const deduplicating = (request: ExecutionRequest): ExecutionResult | Promise<ExecutionResult> | ReturnType<Executor> => {
    const key = dedupKey(request, subgraph);
    if (key === undefined) return executor(request);
    const running = inFlight.get(key);
    if (running) {
      deduplicated.n++;
      return waitFor(running, subgraph, request);
    }
    const entry: InFlight = { waiters: [], leader: trace.getActiveSpan()?.spanContext() };
    inFlight.set(key, entry);
    const shared = request.signal ? { ...request, signal: undefined } : request;
    let result: Promise<ExecutionResult>;
    try {
      result = Promise.resolve(executor(shared) as ExecutionResult | Promise<ExecutionResult>);
    } catch (err) {
      result = Promise.reject(err);
    }
    return result.then(
      (r) => {
        // Removed first: a fetch starting from here on runs again. The copies are made now,
        // before this caller's runtime can touch `r`.
        inFlight.delete(key);
        for (const w of entry.waiters) w.resolve(copyResult(r));
        return r;
      },
      (err: unknown) => {
        inFlight.delete(key);
        for (const w of entry.waiters) w.reject(err);
        throw err;
      },
    );
  };
  return deduplicating as Executor;
}

/** A waiter's answer: the shared fetch's result (a copy), inside a span of its own. */
function waitFor(running: InFlight, subgraph: string, request: ExecutionRequest): Promise<ExecutionResult> {
  const waiting = new Promise<ExecutionResult>((resolve, reject) => running.waiters.push({ resolve, reject }));
  // An unsampled trace records no span of the wait (tracing.ts unsampledActiveSpan).
  if (unsampledActiveSpan()) return waiting;
  const span = tracer().startSpan(`subgraph ${subgraph}`, {
    kind: SpanKind.CLIENT,
    attributes: {
      "switchyard.subgraph": subgraph,
      "graphql.operation.type": "query",
      "switchyard.subgraph.deduplicated": true,
    },
    ...(running.leader ? { links: [{ context: running.leader }] } : {}),
  });
  const requestId = (request.context as Partial<GatewayContext> | undefined)?.requestId;
  if (requestId) span.setAttribute("switchyard.request_id", requestId);
  return waiting.finally(() => span.end());
}

/**
 * The deduplication key of a fetch, or undefined when it must not be shared (not a query, or
 * its client asked for subgraph timings). Fields are joined by newlines; every field but the
 * last is newline-free (JSON escapes newlines), and the printed document, the only one with
 * raw newlines, comes last, so two different fetches never make the same key.
 */
export function dedupKey(request: ExecutionRequest, subgraph: string): string | undefined {
  const type = request.operationType ?? getOperationAST(request.document, request.operationName)?.operation;
  if (type !== OperationTypeNode.QUERY) return undefined;
  const ctx = request.context as Partial<GatewayContext> | undefined;
  if (subgraphTimingsRequested(ctx)) return undefined;
  const extensions = request.extensions && Object.keys(request.extensions).length > 0 ? stableJson(request.extensions) : "";
  return `${subgraph}\n${request.operationName ?? ""}\n${stableJson(ctx?.identity ?? null)}\n${stableJson(request.variables ?? {})}\n${extensions}\n${printRequestDocument(request.document)}`;
}

/**
 * JSON of `value` with the keys of every object in sorted order, so equal values give equal
 * text whatever order their keys were set in. Objects whose keys are already sorted (most) are
 * serialised as they are; only unsorted ones are copied first.
 */
export function stableJson(value: unknown): string {
  return JSON.stringify(sortedKeys(value)) ?? "null";
}

function sortedKeys(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = sortedKeys(value[i]);
      if (v !== value[i]) (copy ??= value.slice())[i] = v;
    }
    return copy ?? value;
  }
  // Values with their own JSON form (Date, ...): serialised as JSON.stringify would.
  if (typeof (value as { toJSON?: unknown }).toJSON === "function") return value;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  let sorted = true;
  for (let i = 1; i < keys.length; i++)
    if ((keys[i - 1] as string) > (keys[i] as string)) {
      sorted = false;
      break;
    }
  if (sorted) {
    let copy: Record<string, unknown> | undefined;
    for (const k of keys) {
      const v = sortedKeys(obj[k]);
      if (v !== obj[k]) (copy ??= { ...obj })[k] = v;
    }
    return copy ?? obj;
  }
  keys.sort();
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = sortedKeys(obj[k]);
  return out;
}

/** Deep copy of JSON-shaped data (what subgraph replies are made of). */
function copyJson(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = copyJson(value[i]);
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const k in value) out[k] = copyJson((value as Record<string, unknown>)[k]);
  return out;
}

/** A `GraphQLError` (the HTTP executor makes them) copied as one, or a JSON error copied as JSON. */
function copyError(e: unknown): unknown {
  if (!(e instanceof GraphQLError)) return copyJson(e);
  return new GraphQLError(e.message, {
    ...(e.nodes ? { nodes: e.nodes } : {}),
    ...(e.source ? { source: e.source } : {}),
    ...(e.positions ? { positions: e.positions } : {}),
    ...(e.path ? { path: [...e.path] } : {}),
    ...(e.originalError ? { originalError: e.originalError } : {}),
    extensions: copyJson(e.extensions) as Record<string, unknown>,
  });
}

/** A waiter's own copy of a shared result. */
function copyResult(r: ExecutionResult): ExecutionResult {
  if (r === null || typeof r !== "object") return r;
  const out: Record<string, unknown> = { ...r };
  if (r.data !== undefined) out["data"] = copyJson(r.data);
  if (r.errors) out["errors"] = r.errors.map(copyError);
  if (r.extensions) out["extensions"] = copyJson(r.extensions);
  return out as ExecutionResult;
}
