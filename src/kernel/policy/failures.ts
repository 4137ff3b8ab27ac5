/**
 * Which failures the call policy acts on, and the error raised when a breaker refuses a call.
 *
 * Only a timeout (`BusTimeoutError`) counts: a responder took the request and did not answer,
 * so the target may be hung, and a breaker protects it and its callers. A `NoRespondersError`
 * does not count and is not retried: the instrumented bus already waited for a responder until
 * the request's deadline (`bus/responder-wait.ts`), nothing received the request, and another
 * attempt would only wait again; counting it would open the breaker during a planned hand-over
 * and turn the next requests' waits into early failures. A responder's error reply
 * (`OUT_OF_STOCK`, ...) proves the target is up, so it neither trips a breaker nor is retried.
 */
import { BusError, BusTimeoutError } from "../bus/errors.ts";

/** True for the bus failures that mean "the target took the request and did not answer in time". */
export function isTransportFailure(err: unknown): boolean {
  return err instanceof BusTimeoutError;
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
