import { SUBGRAPH_UNAVAILABLE } from "../kernel/policy/index.ts";
import { OperationTypeNode, type ExecutionResult } from "graphql";
import type { ExecutionRequest, Executor } from "@graphql-tools/utils";
import type { Bus, Headers } from "../kernel/bus/types.ts";
import { BusError } from "../kernel/bus/errors.ts";
import { ChannelOverflowError } from "../kernel/bus/channel.ts";
import { openStream } from "../kernel/bus/stream.ts";
import { AppError, ErrorCode } from "../kernel/errors.ts";
import type { BusIdentity } from "../kernel/bus-identity.ts";
import { subgraphStreamSubject } from "../kernel/subgraph/server.ts";
import type { GatewayContext } from "./context.ts";
import { printRequestDocument } from "./print-request.ts";

/**
 * Code of the last result of a subscription that the gateway could not keep open: the
 * subgraph instance serving it shut down or stopped answering, or the client fell too far
 * behind. The subscription then completes; clients subscribe again (another instance or the
 * restarted one serves it). Same code as an unreachable subgraph in a query.
 */
export const SUBSCRIPTION_ENDED_CODE = SUBGRAPH_UNAVAILABLE;

/**
 * Code of the last result of every open subscription when this gateway shuts down; with
 * `extensions.reconnect: true`. Clients subscribe again (another gateway instance, or this one
 * restarted, serves it).
 */
export const GATEWAY_SHUTTING_DOWN = "GATEWAY_SHUTTING_DOWN";

/**
 * The subscriptions this gateway has open (all subgraphs, all supergraph versions), so that
 * shutdown can end them with a clear, reconnectable last result instead of cutting the
 * connections after `DRAIN_TIMEOUT_MS`.
 */
export class OpenSubscriptions {
  readonly #enders = new Set<(last: ExecutionResult) => void>();

  /** Subscriptions open right now. */
  get size(): number {
    return this.#enders.size;
  }

  /** Registers a subscription's "end now with this result" function; returns the unregister function. */
  add(end: (last: ExecutionResult) => void): () => void {
    this.#enders.add(end);
    return () => this.#enders.delete(end);
  }

  /**
   * Ends every open subscription: each yields one last result with `code` (default
   * {@link GATEWAY_SHUTTING_DOWN}) and `reconnect: true`, then completes; the subgraph streams
   * are cancelled. Returns how many were ended.
   */
  endAll(message = "the gateway is shutting down; subscribe again", code = GATEWAY_SHUTTING_DOWN): number {
    const enders = [...this.#enders];
    this.#enders.clear();
    for (const end of enders) end(errorResult(message, { code, reconnect: true }));
    return enders.length;
  }
}

export interface SubscriptionExecutorOptions {
  /** Time to wait for the subgraph to accept the subscription, ms. */
  timeoutMs: number;
  /** Heartbeat interval of the stream, ms (the subgraph is dead after 3 silent intervals). */
  heartbeatMs?: number;
  /** Results buffered for a slow client before the subscription ends (default 1000). */
  maxBuffered?: number;
  /** Where open subscriptions are tracked (to end them on shutdown). */
  open?: OpenSubscriptions;
  /** Signs the caller identity sent with the stream's open request (the bus signing key). */
  identity: BusIdentity;
}

const errorResult = (message: string, extensions: Record<string, unknown>): ExecutionResult =>
  ({ errors: [{ message, extensions }] }) as unknown as ExecutionResult;

/**
 * Executes a subscription operation of the federation runtime against subgraph `name`: opens
 * a bus stream on `graphql.<name>.subscribe` (see `kernel/bus/stream.ts`) carrying the
 * caller's identity and request id, and returns the subgraph's results as an AsyncIterable.
 * The federation runtime resolves entity fields of other subgraphs per result (`_entities`
 * over the ordinary bus executor). Leaving the iterator (client gone) cancels the stream.
 *
 * Refusals come back as one `ExecutionResult` (e.g. `UNAUTHENTICATED` from the subgraph), and
 * an unreachable subgraph as one result with `SUBGRAPH_UNAVAILABLE`. A stream that breaks
 * later (instance shut down or dead, client too slow) yields one last result with
 * {@link SUBSCRIPTION_ENDED_CODE} and `extensions.reconnect: true`, then completes.
 */
export async function executeSubscription(
  bus: Bus,
  name: string,
  request: ExecutionRequest,
  opts: SubscriptionExecutorOptions,
): Promise<ExecutionResult | AsyncIterableIterator<ExecutionResult>> {
  const ctx = request.context as Partial<GatewayContext> | undefined;
  // Checked once, when the subgraph opens the stream; the signature's lifetime need not cover the stream's.
  const headers: Headers = opts.identity.headers(ctx?.identity, ctx?.requestId);
  const body = { query: printRequestDocument(request.document), variables: request.variables ?? {}, operationName: request.operationName };
  let opened: Awaited<ReturnType<typeof openStream<ExecutionResult>>>;
  try {
    opened = await openStream<ExecutionResult>(bus, subgraphStreamSubject(name), body, {
      headers,
      timeoutMs: opts.timeoutMs,
      ...(opts.heartbeatMs !== undefined ? { heartbeatMs: opts.heartbeatMs } : {}),
      ...(opts.maxBuffered !== undefined ? { maxBuffered: opts.maxBuffered } : {}),
    });
  } catch (err) {
    if (err instanceof BusError) {
      return errorResult(`subgraph ${name} unavailable: ${err.message}`, { code: SUBSCRIPTION_ENDED_CODE, subgraph: name });
    }
    if (err instanceof AppError) return errorResult(err.message, err.extensions);
    throw err;
  }
  if ("result" in opened) return opened.result;
  return endWithResult(opened.stream, name, opts.open);
}

/**
 * Turns a stream failure into one final result (then done), so that SSE and WebSocket clients
 * get a GraphQL error with a code and a normal completion instead of a transport error.
 */
function endWithResult(
  inner: AsyncIterableIterator<ExecutionResult>,
  name: string,
  open: OpenSubscriptions | undefined,
): AsyncIterableIterator<ExecutionResult> {
  let finished = false;
  let endedWith: ExecutionResult | undefined;
  // Set while a next() waits on the subgraph: OpenSubscriptions.endAll answers it instead.
  let wake: ((last: ExecutionResult) => void) | undefined;
  // The resolver of a next() still waiting on the subgraph, which return() ends (done).
  let pending: ((r: IteratorResult<ExecutionResult>) => void) | undefined;
  const forget = open?.add((last) => {
    endedWith = last;
    wake?.(last);
  });
  const finish = (): void => {
    finished = true;
    wake = undefined;
    forget?.();
  };
  const it: AsyncIterableIterator<ExecutionResult> = {
    next() {
      if (finished) return Promise.resolve({ value: undefined, done: true });
      const endNow = (last: ExecutionResult): IteratorResult<ExecutionResult> => {
        finish();
        void Promise.resolve(inner.return?.()).catch(() => {}); // cancels the subgraph stream
        return { value: last, done: false };
      };
      if (endedWith) return Promise.resolve(endNow(endedWith));
      return new Promise((resolve) => {
        pending = resolve;
        wake = (last) => resolve(endNow(last));
        inner.next().then(
          (r) => {
            if (finished) return;
            wake = undefined;
            if (r.done) finish();
            resolve(r);
          },
          (err: unknown) => {
            if (finished) return;
            finish();
            resolve({ value: failure(err, name), done: false });
          },
        );
      });
    },
    async return() {
      finish();
      // Without this, a consumer's loop would wait for the next event after a client's
      // `complete` (forever on a quiet stream), keeping the operation and its subscription slot.
      pending?.({ value: undefined, done: true });
      pending = undefined;
      await inner.return?.();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]: () => it,
  };
  return it;
}

function failure(err: unknown, name: string): ExecutionResult {
  if (err instanceof AppError && err.code !== ErrorCode.SERVICE_UNAVAILABLE) return errorResult(err.message, err.extensions);
  const why =
    err instanceof ChannelOverflowError
      ? "the client fell too far behind"
      : err instanceof AppError || err instanceof BusError
        ? err.message
        : "the stream failed";
  return errorResult(`subscription ended (subgraph ${name}): ${why}; subscribe again`, {
    code: SUBSCRIPTION_ENDED_CODE,
    subgraph: name,
    reconnect: true,
  });
}

/**
 * Wraps a subgraph's query/mutation executor so that subscription operations go through
 * {@link executeSubscription} (bus streams) and everything else through `executor`.
 */
export function withBusSubscriptions(executor: Executor, bus: Bus, name: string, opts: SubscriptionExecutorOptions): Executor {
  return ((request: ExecutionRequest) =>
    request.operationType === OperationTypeNode.SUBSCRIPTION
      ? executeSubscription(bus, name, request, opts)
      : executor(request)) as Executor;
}
