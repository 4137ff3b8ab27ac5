/**
 * Which failures the call policy acts on, and the error raised when a breaker refuses a call.
 *
 * Only transport failures count: a timeout (`BusTimeoutError`) or nobody listening
 * (`NoRespondersError`). A responder's error reply (`OUT_OF_STOCK`, ...) proves the target is
 * up, so it neither trips a breaker nor is retried.
 */
import { BusError, BusTimeoutError, NoRespondersError } from "../bus/errors.ts";

/** True for the bus failures that mean "the target is unreachable right now". */
export function isTransportFailure(err: unknown): boolean {
  return err instanceof BusTimeoutError || err instanceof NoRespondersError;
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
