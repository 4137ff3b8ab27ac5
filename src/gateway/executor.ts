import { OperationTypeNode, print, type DocumentNode, type ExecutionResult } from "graphql";
import type { ExecutionRequest, Executor } from "@graphql-tools/utils";
import type { Bus, Headers } from "../kernel/bus/types.ts";
import { encodeJson } from "../kernel/bus/codec.ts";
import { BusError, BusTimeoutError, NoRespondersError } from "../kernel/bus/errors.ts";
import { ExponentialBackoff, handleWhen, retry } from "cockatiel";
import { IDENTITY_HEADER, REQUEST_ID_HEADER, encodeIdentity } from "../kernel/identity.ts";
import { subgraphSubject } from "../kernel/module.ts";
import type { GatewayContext } from "./context.ts";

/**
 * Retry policy for idempotent subgraph requests (queries only, never mutations): when an
 * instance dies mid-request (timeout) or none is subscribed for a moment (no responders),
 * try again — NATS routes the retry to another member of the module's queue group.
 * Exponential backoff with jitter (cockatiel's decorrelated jitter), 50 ms → 500 ms, 3 attempts.
 */
const queryRetry = retry(
  handleWhen((err) => err instanceof BusTimeoutError || err instanceof NoRespondersError),
  { maxAttempts: 2, backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 500 }) },
);

/** Error code on fields whose subgraph could not be reached. */
export const SUBGRAPH_UNAVAILABLE = "SUBGRAPH_UNAVAILABLE";

// Query plans reuse the same DocumentNode objects for the same operation, so printing once
// per node saves the dominant cost of turning a plan step into a request body.
const printed = new WeakMap<DocumentNode, string>();
const printCached = (doc: DocumentNode): string => {
  let s = printed.get(doc);
  if (s === undefined) printed.set(doc, (s = print(doc)));
  return s;
};

/**
 * An executor for one subgraph that sends each request over the bus to `graphql.<name>`
 * (request/reply), forwarding the caller identity and request id in headers.
 * Transport failures become an `ExecutionResult` with a `SUBGRAPH_UNAVAILABLE` error so the
 * gateway still returns the other subgraphs' data.
 * @param timeoutMs per-request timeout in ms.
 */
export function createBusExecutor(bus: Bus, name: string, timeoutMs: number): Executor {
  const subject = subgraphSubject(name);
  const executor = async (request: ExecutionRequest): Promise<ExecutionResult> => {
    const ctx = request.context as Partial<GatewayContext> | undefined;
    const headers: Headers = {};
    if (ctx?.requestId) headers[REQUEST_ID_HEADER] = ctx.requestId;
    if (ctx?.identity) headers[IDENTITY_HEADER] = encodeIdentity(ctx.identity);
    const body = encodeJson({ query: printCached(request.document), variables: request.variables ?? {}, operationName: request.operationName });
    try {
      const send = () => bus.request(subject, body, { timeoutMs, headers });
      const reply = request.operationType === OperationTypeNode.QUERY ? await queryRetry.execute(send) : await send();
      return reply.json<ExecutionResult>();
    } catch (err) {
      if (err instanceof BusError) {
        return { errors: [{ message: `subgraph ${name} unavailable: ${err.message}`, extensions: { code: SUBGRAPH_UNAVAILABLE, subgraph: name } }] } as unknown as ExecutionResult;
      }
      throw err;
    }
  };
  return executor as Executor;
}
