import { OperationTypeNode, type ExecutionResult } from "graphql";
import type { ExecutionRequest, Executor } from "@graphql-tools/utils";
import type { Bus, Headers } from "../kernel/bus/types.ts";
import { encodeJson, jsonPayload } from "../kernel/bus/codec.ts";
import { BusError } from "../kernel/bus/errors.ts";
import { breakers, createCallPolicy, subgraphUnavailableResult } from "../kernel/policy/index.ts";
import { subgraphFetchDuration } from "../kernel/metrics.ts";
import { SpanKind, markError, startActiveChildSpan } from "../kernel/tracing.ts";
import type { BusIdentity } from "../kernel/bus-identity.ts";
import { subgraphSubject } from "../kernel/module.ts";
import type { GatewayContext } from "./context.ts";
import { printRequestDocument } from "./print-request.ts";
import { traceSubgraphFetch } from "./plugins/subgraph-timings.ts";

/** `error` when a subgraph's GraphQL result carries errors (for the fetch metric). */
const resultOutcome = (result: unknown) => ((result as ExecutionResult).errors?.length ? "error" : "ok");

/**
 * An executor for one subgraph that sends each request over the bus to `graphql.<name>`
 * (request/reply), forwarding the request id and the caller identity, signed with `identity`
 * (the bus signing key), in headers.
 *
 * Each request goes through the call policy (kernel/policy): the subgraph's circuit breaker
 * (`subgraph:<name>`; once open, fetches fail fast until a trial request after
 * BREAKER_RESET_MS finds the subgraph back), retries of queries only (never mutations) when an
 * instance dies mid-request (timeout) — NATS routes the retry to another member of the module's
 * queue group — and the
 * `switchyard_subgraph_fetch_duration_seconds` metric.
 * While no instance serves the subgraph (a module paused for a hand-over, a restart), a fetch,
 * query or mutation, waits for one until its timeout on the bus (nothing received it, so this is
 * safe for mutations). A fetch still unserved at its timeout is one breaker failure, not
 * retried: after BREAKER_FAILURES of them fetches fail fast until the half-open trial.
 * Transport failures become an `ExecutionResult` with a `SUBGRAPH_UNAVAILABLE` error so the
 * gateway still returns the other subgraphs' data.
 * @param timeoutMs per-request timeout in ms.
 */
export function createBusExecutor(bus: Bus, name: string, timeoutMs: number, identity: BusIdentity): Executor {
  const subject = subgraphSubject(name);
  const target = `subgraph:${name}`;
  // Created now (closed), so /admin/health and the gauge list every subgraph from the start.
  breakers().get(target);
  const policy = createCallPolicy({
    target,
    timeoutMs,
    resultOutcome,
    observe: (outcome, seconds) => subgraphFetchDuration.observe({ subgraph: name, outcome }, seconds),
  });
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
    return startActiveChildSpan(
      `subgraph ${name}`,
      () => ({
        kind: SpanKind.CLIENT,
        attributes: { "switchyard.subgraph": name, "graphql.operation.type": request.operationType ?? "query" },
      }),
      async (span) => {
        try {
          const reply = await policy.execute(
            // The first attempt hands the body to the bus (in process the subgraph receives the
            // object without a JSON round trip); a retry sends its encoding, so a timed-out
            // handler that may still hold the object never shares it with the next one.
            (a) =>
              bus
                .request(subject, a.index === 0 ? jsonPayload(body) : encodeJson(body), {
                  headers,
                  ...(a.timeoutMs !== undefined ? { timeoutMs: a.timeoutMs } : {}),
                })
                .then((m) => m.json<ExecutionResult>()),
            { idempotent: request.operationType === OperationTypeNode.QUERY },
          );
          traced?.(reply);
          return reply;
        } catch (err) {
          markError(span, err);
          if (err instanceof BusError) return subgraphUnavailableResult(name, err.message);
          throw err;
        } finally {
          span.end();
        }
      },
    );
  };
  return executor as Executor;
}
