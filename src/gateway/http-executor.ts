import type { ExecutionResult } from "graphql";
import { buildHTTPExecutor } from "@graphql-tools/executor-http";
import type { ExecutionRequest, Executor } from "@graphql-tools/utils";
import type { GatewayContext } from "./context.ts";
import { SUBGRAPH_UNAVAILABLE } from "./executor.ts";

/**
 * An executor for a subgraph served over GraphQL-over-HTTP (a `join__graph` URL that is
 * `http(s)://...` in a supergraph file): POSTs each request with `@graphql-tools/executor-http`,
 * forwarding the request id in `x-request-id`. A request that throws (connection refused,
 * timeout) becomes an `ExecutionResult` with a `SUBGRAPH_UNAVAILABLE` error, as on the bus.
 * @param timeoutMs per-request timeout in ms.
 */
export function createHttpSubgraphExecutor(endpoint: string, name: string, timeoutMs: number): Executor {
  const http = buildHTTPExecutor({
    endpoint,
    timeout: timeoutMs,
    headers: (req?: ExecutionRequest): Record<string, string> => {
      const ctx = req?.context as Partial<GatewayContext> | undefined;
      return ctx?.requestId ? { "x-request-id": ctx.requestId } : {};
    },
  });
  const executor = async (request: ExecutionRequest): Promise<ExecutionResult> => {
    try {
      return (await http(request)) as ExecutionResult;
    } catch (err) {
      return { errors: [{ message: `subgraph ${name} unavailable: ${(err as Error).message}`, extensions: { code: SUBGRAPH_UNAVAILABLE, subgraph: name } }] } as unknown as ExecutionResult;
    }
  };
  return executor as Executor;
}
