import { GraphQLError, OperationTypeNode, type ExecutionResult } from "graphql";
import { buildHTTPExecutor } from "@graphql-tools/executor-http";
import type { ExecutionRequest, Executor } from "@graphql-tools/utils";
import type { Logger } from "../kernel/logger.ts";
import { subgraphFetchDuration } from "../kernel/metrics.ts";
import {
  breakers,
  CircuitOpenError,
  createCallPolicy,
  subgraphUnavailableError,
  subgraphUnavailableResult,
} from "../kernel/policy/index.ts";
import type { GatewayContext } from "./context.ts";
import { printRequestDocument } from "./print-request.ts";
import { INTERNAL_SERVER_ERROR } from "./graphql-errors.ts";

/** A subgraph's HTTP request failed below HTTP: connection refused or reset, DNS, TLS. */
class SubgraphUnreachableError extends Error {
  override readonly name = "SubgraphUnreachableError";
}

/** An HTTP subgraph could not be reached in time: the transport failure the call policy acts on. */
class HttpSubgraphUnavailableError extends Error {
  override readonly name = "HttpSubgraphUnavailableError";
}

/** `fetch` whose network failures (not aborts) become {@link SubgraphUnreachableError}. */
const markedFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  try {
    return await fetch(input, init);
  } catch (err) {
    const name = (err as { name?: unknown } | null)?.name;
    if (name === "AbortError" || name === "TimeoutError") throw err;
    throw new SubgraphUnreachableError((err as Error).message ?? String(err), { cause: err });
  }
};

/** Whether an error of `@graphql-tools/executor-http` means the subgraph could not be reached in time. */
function isUnavailable(error: unknown): boolean {
  if (!(error instanceof GraphQLError)) return false;
  const original = error.originalError;
  // Only errors the executor made itself (with the original attached): a subgraph's own
  // errors, whatever their code, pass through.
  return original instanceof SubgraphUnreachableError || original?.name === "TimeoutError";
}

const isTransportFailure = (err: unknown): boolean => err instanceof HttpSubgraphUnavailableError;

/**
 * An executor for a subgraph served over GraphQL-over-HTTP (a `join__graph` URL that is
 * `http(s)://...` in a supergraph file): POSTs each request with `@graphql-tools/executor-http`,
 * forwarding the request id in `x-request-id`, through the same call policy as the bus executor
 * (kernel/policy: breaker `subgraph:<name>`, retries of queries only, the subgraph fetch metric).
 *
 * Errors are told apart:
 * - the subgraph could not be reached (connection refused/reset, DNS, TLS), did not answer
 *   within `timeoutMs`, or its breaker is open: an error with `SUBGRAPH_UNAVAILABLE` (as on the
 *   bus), so the other subgraphs' data is still returned;
 * - an error of the gateway itself while building or sending the request (e.g. printing the
 *   document): logged with the request id and the stack, answered as `INTERNAL_SERVER_ERROR`
 *   with the request id (message masked);
 * - errors in the subgraph's GraphQL response pass through unchanged.
 * @param timeoutMs per-request timeout in ms.
 */
export function createHttpSubgraphExecutor(endpoint: string, name: string, timeoutMs: number, logger: Logger): Executor {
  const http = buildHTTPExecutor({
    endpoint,
    timeout: timeoutMs,
    fetch: markedFetch,
    print: printRequestDocument,
    // Deduplication is the gateway's own (dedup.ts, SUBGRAPH_DEDUP), the same for bus and HTTP
    // subgraphs; the executor's would key by x-request-id too, so it never shared anything.
    deduplicateInflightRequests: false,
    headers: (req?: ExecutionRequest): Record<string, string> => {
      const ctx = req?.context as Partial<GatewayContext> | undefined;
      return ctx?.requestId ? { "x-request-id": ctx.requestId } : {};
    },
  });
  const target = `subgraph:${name}`;
  breakers().get(target);
  const policy = createCallPolicy({
    target,
    timeoutMs,
    isFailure: isTransportFailure,
    isUnavailable: (err) => isTransportFailure(err) || err instanceof CircuitOpenError,
    resultOutcome: (r) => ((r as ExecutionResult).errors?.length ? "error" : "ok"),
    observe: (outcome, seconds) => subgraphFetchDuration.observe({ subgraph: name, outcome }, seconds),
  });
  const executor = async (request: ExecutionRequest): Promise<ExecutionResult> => {
    try {
      return await policy.execute(
        async () => {
          // The timeout is the HTTP executor's own (`timeout` above), fixed per subgraph.
          const result = (await http(request)) as ExecutionResult;
          const unavailable = result.errors?.find(isUnavailable);
          if (unavailable && result.data == null) throw new HttpSubgraphUnavailableError(unavailable.message);
          if (!result.errors?.some(isUnavailable)) return result;
          return {
            ...result,
            errors: result.errors.map((e) => (isUnavailable(e) ? subgraphUnavailableError(name, e.message) : e)),
          } as unknown as ExecutionResult;
        },
        { idempotent: request.operationType === OperationTypeNode.QUERY },
      );
    } catch (err) {
      if (isTransportFailure(err) || err instanceof CircuitOpenError) {
        return subgraphUnavailableResult(name, (err as Error).message);
      }
      const requestId = (request.context as Partial<GatewayContext> | undefined)?.requestId;
      logger.error({ err, subgraph: name, request_id: requestId }, "gateway error while calling an HTTP subgraph");
      return {
        errors: [
          {
            message: `internal error (request ${requestId ?? "unknown"})`,
            extensions: { code: INTERNAL_SERVER_ERROR, subgraph: name, ...(requestId ? { requestId } : {}) },
          },
        ],
      } as unknown as ExecutionResult;
    }
  };
  return executor as Executor;
}
