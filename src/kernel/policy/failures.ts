/**
 * Which failures the call policy acts on, and the error raised when a breaker refuses a call.
 *
 * Breaker failures ({@link isTransportFailure}):
 * - a timeout (`BusTimeoutError`): a responder took the request and did not answer, so the
 *   target may be hung, and a breaker protects it and its callers;
 * - a request that still found no responder when its wait ran out (`NoRespondersError` from the
 *   instrumented bus, which waits for a responder until the request's deadline:
 *   `bus/responder-wait.ts`): the target is absent for longer than a caller can wait (crashed,
 *   not deployed). One such full wait counts once, so after `BREAKER_FAILURES` of them calls
 *   fail fast instead of each waiting its whole timeout, until the half-open trial finds a
 *   responder again. A brief absence (a planned hand-over, a restart) that ends within the wait
 *   is answered and counts nothing.
 *
 * Only timeouts are retried (the call policy's retry stage): a no-responders error already was
 * the retry (the bus resent the request until its deadline), another attempt would only wait again.
 * A responder's error reply (`OUT_OF_STOCK`, ...) proves the target is up, so it neither trips a
 * breaker nor is retried.
 */
import { BusError, BusTimeoutError, NoRespondersError } from "../bus/errors.ts";

/**
 * True for a `NoRespondersError` raised after waiting for a responder until the deadline (it
 * carries `waitedMs`); false for a raw transport's immediate one (no wait happened).
 */
export function isResponderWaitExhausted(err: unknown): boolean {
  return err instanceof NoRespondersError && err.waitedMs !== undefined;
}

/**
 * True for the bus failures a circuit breaker counts: a timeout (the target took the request and
 * did not answer in time) or a request nobody served during its whole wait (the target is absent).
 */
export function isTransportFailure(err: unknown): boolean {
  return err instanceof BusTimeoutError || isResponderWaitExhausted(err);
}

/** A request refused without being sent because the target's circuit breaker is open. */
export class CircuitOpenError extends BusError {
  constructor(readonly target: string) {
    super("CIRCUIT_OPEN", `circuit breaker of ${target} is open: failing fast`);
  }
}

/**
 * Carries an error through a circuit breaker without counting it (neither failure nor success):
 * the call policy wraps every error its `isFailure` does not accept, and unwraps it after.
 */
export class NotCounted extends Error {
  constructor(readonly error: unknown) {
    super("not counted by the breaker");
  }
}
