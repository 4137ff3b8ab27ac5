import { OperationTypeNode, type ExecutionResult } from "graphql";
import type { ExecutionRequest, Executor } from "@graphql-tools/utils";
import type { Bus, Headers } from "../kernel/bus/types.ts";
import { encodeJson, jsonPayload } from "../kernel/bus/codec.ts";
import { BusError } from "../kernel/bus/errors.ts";
import { CircuitOpenError, breakers, idempotentRetry, throughBreaker } from "../kernel/bus/resilience.ts";
import { secondsSince, subgraphFetchDuration } from "../kernel/metrics.ts";
import { SpanKind, markError, tracer } from "../kernel/tracing.ts";
import type { BusIdentity } from "../kernel/bus-identity.ts";
import { subgraphSubject } from "../kernel/module.ts";
import type { GatewayContext } from "./context.ts";
import { printRequestDocument } from "./print-request.ts";
import { traceSubgraphFetch } from "./plugins/subgraph-timings.ts";

/**
 * Retry policy for idempotent subgraph requests (queries only, never mutations): when an
 * instance dies mid-request (timeout) or none is subscribed for a moment (no responders),
 * try again — NATS routes the retry to another member of the module's queue group.
 * Exponential backoff with jitter (cockatiel's decorrelated jitter), 50 ms → 500 ms, 3 attempts.
 * Each attempt passes the subgraph's circuit breaker (`subgraph:<name>`): once it is open,
 * fetches fail fast with SUBGRAPH_UNAVAILABLE until a trial request after BREAKER_RESET_MS
 * finds the subgraph back (half-open → closed).
 */
const queryRetry = idempotentRetry();

/** Error code on fields whose subgraph could not be reached. */
export const SUBGRAPH_UNAVAILABLE = "SUBGRAPH_UNAVAILABLE";

/**
 * An executor for one subgraph that sends each request over the bus to `graphql.<name>`
 * (request/reply), forwarding the request id and the caller identity, signed with `identity`
 * (the bus signing key), in headers.
 * Transport failures become an `ExecutionResult` with a `SUBGRAPH_UNAVAILABLE` error so the
 * gateway still returns the other subgraphs' data.
 * @param timeoutMs per-request timeout in ms.
 */
export function createBusExecutor(bus: Bus, name: string, timeoutMs: number, identity: BusIdentity): Executor {
  const subject = subgraphSubject(name);
  const breakerTarget = `subgraph:${name}`;
  // Created now (closed), so /admin/health and the gauge list every subgraph from the start.
  breakers().get(breakerTarget);
  const executor = async (request: ExecutionRequest): Promise<ExecutionResult> => {
    const ctx = request.context as Partial<GatewayContext> | undefined;
    const headers: Headers = identity.headers(ctx?.identity, ctx?.requestId);
    // x-switchyard-trace: asks the subgraph for an ftv1 trace (plugins/subgraph-timings.ts).
    const traced = traceSubgraphFetch(request.context, name, request.operationType, headers);
    const body = {
      query: printRequestDocument(request.document),
      variables: request.variables ?? {},
      operationName: request.operationName,
    };
    let attempts = 0;
    // The first attempt hands the body to the bus (in process the subgraph receives the object
    // without a JSON round trip); a retry sends its encoding, so a timed-out handler that may
    // still hold the object never shares it with the next one.
    const payload = () => (attempts++ === 0 ? jsonPayload(body) : encodeJson(body));
    const start = performance.now();
    return tracer().startActiveSpan(
      `subgraph ${name}`,
      { kind: SpanKind.CLIENT, attributes: { "switchyard.subgraph": name, "graphql.operation.type": request.operationType ?? "query" } },
      async (span) => {
        let outcome = "ok";
        try {
          const send = () => throughBreaker(breakerTarget, () => bus.request(subject, payload(), { timeoutMs, headers }));
          const reply = request.operationType === OperationTypeNode.QUERY ? await queryRetry.execute(send) : await send();
          const result = reply.json<ExecutionResult>();
          traced?.(result);
          if (result.errors?.length) outcome = "error";
          return result;
        } catch (err) {
          outcome = err instanceof CircuitOpenError ? "circuit_open" : err instanceof BusError ? "unavailable" : "error";
          markError(span, err);
          if (err instanceof BusError) {
            return {
              errors: [
                { message: `subgraph ${name} unavailable: ${err.message}`, extensions: { code: SUBGRAPH_UNAVAILABLE, subgraph: name } },
              ],
            } as unknown as ExecutionResult;
          }
          throw err;
        } finally {
          subgraphFetchDuration.observe({ subgraph: name, outcome }, secondsSince(start));
          span.end();
        }
      },
    );
  };
  return executor as Executor;
}
