import type { ExecutionResult } from "graphql";
import { isAsyncIterable } from "graphql-yoga";
import { Trace } from "@apollo/usage-reporting-protobuf";
import type { Headers } from "../../kernel/bus/types.ts";
import { FTV1, FTV1_HEADER } from "../../kernel/subgraph/inline-trace.ts";
import type { GatewayPlugin } from "./types.ts";

/** Request header with which a client asks for `extensions.subgraphTimings` (`1` or `true`). */
export const TRACE_REQUEST_HEADER = "x-switchyard-trace";

/** One resolver of a subgraph trace. */
export interface ResolverTiming {
  /** Response path inside the subgraph's result, e.g. `_entities.0.name`. */
  path: string;
  /** Time the resolver took, ms. */
  durationMs: number;
}

/** One gateway → subgraph fetch of the operation, as reported in `extensions.subgraphTimings`. */
export interface SubgraphTiming {
  /** Subgraph (module) name, e.g. `catalog`. */
  subgraph: string;
  /** `query` or `mutation`. */
  operationType: string;
  /** Round trip measured by the gateway (bus transport + queueing + execution), ms. */
  durationMs: number;
  /** Execution time inside the subgraph, from its Apollo `ftv1` trace, ms; absent without a trace. */
  executionMs?: number;
  /** The slowest resolvers of the trace (at most 5), slowest first. */
  slowestResolvers?: ResolverTiming[];
}

// Timings of the operations whose client asked for them, by execution context (the same object
// reaches the bus executor as `ExecutionRequest.context`). A WeakMap: nothing outlives a request.
const collectors = new WeakMap<object, SubgraphTiming[]>();

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/**
 * Per-subgraph timings for developers: when a request carries `x-switchyard-trace: 1`, each
 * subgraph fetch of the operation asks the subgraph for an Apollo federated trace (bus header
 * `apollo-federation-include-trace: ftv1`, answered by `@graphql-yoga/plugin-apollo-inline-trace`)
 * and the response gets `extensions.subgraphTimings` ({@link SubgraphTiming}[], in fetch order).
 *
 * Only added to the gateway when `SUBGRAPH_TIMINGS` is on (default: on unless
 * `NODE_ENV=production`); without the header nothing changes (no trace is requested). A
 * response served from the response cache made no subgraph fetch: its list is empty.
 */
export function useSubgraphTimings(): GatewayPlugin {
  return {
    onExecute({ args }) {
      const ctx = args.contextValue as { request?: Request } | undefined;
      const asked = ctx?.request?.headers.get(TRACE_REQUEST_HEADER);
      if (!ctx || (asked !== "1" && asked !== "true")) return;
      const timings: SubgraphTiming[] = [];
      collectors.set(ctx, timings);
      return {
        onExecuteDone({ result, setResult }) {
          if (isAsyncIterable(result)) return;
          setResult({ ...result, extensions: { ...result.extensions, subgraphTimings: timings } });
        },
      };
    },
  };
}

/**
 * Whether the operation of `context` (an `ExecutionRequest.context`) asked for subgraph timings:
 * its fetches carry that request's ftv1 trace, so they are never shared (gateway/dedup.ts).
 */
export function subgraphTimingsRequested(context: unknown): boolean {
  return typeof context === "object" && context !== null && collectors.has(context);
}

/**
 * For the bus executor, before it sends a subgraph fetch: when the operation's client asked for
 * timings, adds the ftv1 header to `headers` and returns the function to call with the
 * subgraph's result (it records the timing and removes `extensions.ftv1` from the result);
 * otherwise returns undefined and changes nothing.
 */
export function traceSubgraphFetch(
  context: unknown,
  subgraph: string,
  operationType: string | undefined,
  headers: Headers,
): ((result: ExecutionResult) => void) | undefined {
  const timings = typeof context === "object" && context !== null ? collectors.get(context) : undefined;
  if (!timings) return undefined;
  headers[FTV1_HEADER] = FTV1;
  const start = performance.now();
  return (result) => {
    const timing: SubgraphTiming = { subgraph, operationType: operationType ?? "query", durationMs: round(performance.now() - start) };
    const ftv1 = result.extensions?.["ftv1"];
    if (typeof ftv1 === "string") {
      delete (result.extensions as Record<string, unknown>)["ftv1"];
      Object.assign(timing, decodeFtv1(ftv1));
    }
    timings.push(timing);
  };
}

/**
 * Summarises an Apollo `ftv1` trace (base64 protobuf `Trace`): total execution time and the
 * slowest resolvers. Returns `{}` for a trace that cannot be decoded (timings stay without it).
 */
export function decodeFtv1(base64: string): Pick<SubgraphTiming, "executionMs" | "slowestResolvers"> {
  let trace: Trace;
  try {
    trace = Trace.decode(Buffer.from(base64, "base64"));
  } catch {
    return {};
  }
  const resolvers: ResolverTiming[] = [];
  const walk = (node: Trace.INode, path: string): void => {
    for (const child of node.child ?? []) {
      const key = child.responseName || String(child.index ?? 0);
      const childPath = path ? `${path}.${key}` : key;
      // Nodes of list indexes carry no timing; field nodes do (ns from the trace start).
      if (child.responseName && child.endTime != null && child.startTime != null) {
        resolvers.push({ path: childPath, durationMs: round((child.endTime - child.startTime) / 1e6) });
      }
      walk(child, childPath);
    }
  };
  if (trace.root) walk(trace.root, "");
  resolvers.sort((a, b) => b.durationMs - a.durationMs);
  return { executionMs: round(trace.durationNs / 1e6), slowestResolvers: resolvers.slice(0, 5) };
}
