/**
 * Waiting for a responder: a request to a subject nobody serves right now (a module paused for a
 * hand-over, an instance restarting) is sent again with a short backoff until its deadline instead
 * of failing at once. Safe for every request, idempotent or not: a "no responders" answer (NATS
 * status 503, the memory bus's empty route) means no handler received the message, so sending it
 * again cannot apply anything twice. Used by the instrumented bus, so both transports behave the
 * same for every caller (module calls, the gateway's subgraph fetches, SDL fetches, session checks).
 */
import { BackoffSchedule } from "../policy/stages.ts";
import { BusTimeoutError, NoRespondersError } from "./errors.ts";
import { DEFAULT_REQUEST_TIMEOUT_MS } from "./msg.ts";
import type { Bus, Msg, Payload, RequestOptions } from "./types.ts";

/**
 * Delays between attempts while nobody serves the subject: 10 ms doubling to 250 ms, with jitter
 * (many waiting callers must not resend in lockstep when a responder comes back). A new responder
 * is found at most ~250 ms after it subscribed.
 */
export const RESPONDER_WAIT_BACKOFF = { initialDelayMs: 10, maxDelayMs: 250 } as const;

/**
 * The least time left before the deadline for which another attempt is sent (ms): 100 ms or a
 * tenth of the timeout, whichever is more. A responder that arrived just before the deadline
 * would otherwise take the request, maybe apply it, and the caller time out (BusTimeoutError: a
 * breaker failure, an outcome unknown for a command); instead the caller gets a
 * NoRespondersError, which means nothing received the request.
 */
export function attemptFloorMs(timeoutMs: number): number {
  return Math.max(100, Math.ceil(timeoutMs / 10));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends `bus.request(subject, data, opts)`; while it fails with {@link NoRespondersError}, waits a
 * backoff ({@link RESPONDER_WAIT_BACKOFF}) and sends it again with what is left of the deadline
 * (`opts.timeoutMs`, default {@link DEFAULT_REQUEST_TIMEOUT_MS}, measured from this call).
 * @param onWait called once, when the first attempt found no responder (metrics, tracing).
 * @returns the first reply.
 * @throws NoRespondersError (with `waitedMs`) when still nobody serves the subject with less
 *   than {@link attemptFloorMs} of the timeout left (no attempt is sent that late; nothing
 *   received the request); BusTimeoutError (with the whole timeout) when a responder took the request but did
 *   not answer in time; anything else the transport throws (BusClosedError, ...) at once.
 */
export async function requestAwaitingResponder(
  bus: Pick<Bus, "request">,
  subject: string,
  data: Payload | undefined,
  opts: RequestOptions,
  onWait: () => void,
): Promise<Msg> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const floorMs = attemptFloorMs(timeoutMs);
  const start = performance.now();
  const deadline = start + timeoutMs;
  let backoff: BackoffSchedule | undefined;
  let attemptMs = opts.timeoutMs;
  for (;;) {
    try {
      return await bus.request(subject, data, { ...opts, ...(attemptMs !== undefined ? { timeoutMs: attemptMs } : {}) });
    } catch (err) {
      if (err instanceof BusTimeoutError && backoff) throw new BusTimeoutError(subject, timeoutMs);
      if (!(err instanceof NoRespondersError)) throw err;
      if (!backoff) {
        backoff = new BackoffSchedule(RESPONDER_WAIT_BACKOFF);
        onWait();
      }
      // The next attempt must still have at least the floor left once the backoff has passed
      // (checked again after the sleep: a timer may fire late).
      const spare = deadline - performance.now() - floorMs;
      if (spare > 0) await sleep(Math.min(backoff.next(), spare));
      attemptMs = Math.floor(deadline - performance.now());
      if (spare <= 0 || attemptMs < floorMs) throw new NoRespondersError(subject, Math.round(performance.now() - start));
    }
  }
}
