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

/** An attempt needs this much of the deadline left to be worth sending (ms). */
const MIN_ATTEMPT_MS = 5;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends `bus.request(subject, data, opts)`; while it fails with {@link NoRespondersError}, waits a
 * backoff ({@link RESPONDER_WAIT_BACKOFF}) and sends it again with what is left of the deadline
 * (`opts.timeoutMs`, default {@link DEFAULT_REQUEST_TIMEOUT_MS}, measured from this call).
 * @param onWait called once, when the first attempt found no responder (metrics, tracing).
 * @returns the first reply.
 * @throws NoRespondersError (with `waitedMs`) when still nobody serves the subject at the
 *   deadline; BusTimeoutError (with the whole timeout) when a responder took the request but did
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
      const left = deadline - performance.now();
      if (left < MIN_ATTEMPT_MS * 2) throw new NoRespondersError(subject, Math.round(performance.now() - start));
      await sleep(Math.min(backoff.next(), left - MIN_ATTEMPT_MS));
      attemptMs = Math.max(MIN_ATTEMPT_MS, Math.floor(deadline - performance.now()));
    }
  }
}
