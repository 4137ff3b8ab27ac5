/**
 * Resilience policies for bus requests (cockatiel): retries with exponential backoff and
 * jitter for idempotent requests only, and one circuit breaker per target (a subgraph or a
 * subject) whose state is exported as a metric and listed at `GET /admin/health`.
 *
 * Only transport failures count: a timeout (`BusTimeoutError`) or nobody listening
 * (`NoRespondersError`). A responder's error reply (`OUT_OF_STOCK`, ...) proves the target is
 * up, so it neither trips a breaker nor is retried.
 */
import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  handleWhen,
  retry,
  type CircuitBreakerPolicy,
  type RetryPolicy,
} from "cockatiel";
import { BREAKER_STATE_VALUE, circuitBreakerState } from "../metrics.ts";
import { BusError, BusTimeoutError, NoRespondersError } from "./errors.ts";

/** True for the failures that mean "the target is unreachable right now". */
export function isTransportFailure(err: unknown): boolean {
  return err instanceof BusTimeoutError || err instanceof NoRespondersError;
}

/** Breaker settings (`BREAKER_FAILURES`, `BREAKER_RESET_MS`). */
export interface BreakerSettings {
  /** Consecutive transport failures that open the breaker. */
  failures: number;
  /** How long an open breaker rejects calls before letting one through (half-open), ms. */
  resetMs: number;
}

/** Defaults of {@link BreakerSettings}. */
export const DEFAULT_BREAKER: BreakerSettings = { failures: 5, resetMs: 5000 };

/** Lower-case state names, as `/admin/health` and logs show them. */
export type BreakerStateName = keyof typeof BREAKER_STATE_VALUE;

const STATE_NAME: Record<CircuitState, BreakerStateName> = {
  [CircuitState.Closed]: "closed",
  [CircuitState.HalfOpen]: "half_open",
  [CircuitState.Open]: "open",
  [CircuitState.Isolated]: "isolated",
};

/**
 * The circuit breakers of this process, one per target name (`subgraph:account`,
 * `subject:catalog.stock.reserve`), created on first use with the same settings.
 */
export class BreakerRegistry {
  readonly #breakers = new Map<string, CircuitBreakerPolicy>();
  constructor(readonly settings: BreakerSettings = DEFAULT_BREAKER) {}

  /** The breaker of `target`, created closed on first use. State changes update the gauge. */
  get(target: string): CircuitBreakerPolicy {
    let b = this.#breakers.get(target);
    if (!b) {
      b = circuitBreaker(handleWhen(isTransportFailure), {
        halfOpenAfter: this.settings.resetMs,
        breaker: new ConsecutiveBreaker(this.settings.failures),
      });
      circuitBreakerState.set({ target }, BREAKER_STATE_VALUE.closed);
      b.onStateChange((s) => circuitBreakerState.set({ target }, BREAKER_STATE_VALUE[STATE_NAME[s]]));
      this.#breakers.set(target, b);
    }
    return b;
  }

  /** Every breaker's state by target, e.g. `{ "subgraph:account": "open" }`. */
  states(): Record<string, BreakerStateName> {
    const out: Record<string, BreakerStateName> = {};
    for (const [target, b] of this.#breakers) out[target] = STATE_NAME[b.state];
    return out;
  }
}

/** The process-wide breakers (one process = one set of targets; settings from config at start). */
let processBreakers = new BreakerRegistry();

/** Replaces the process-wide breakers with fresh ones using `settings` (called once at start). */
export function configureBreakers(settings: BreakerSettings): BreakerRegistry {
  processBreakers = new BreakerRegistry(settings);
  return processBreakers;
}

/** The process-wide breakers. */
export function breakers(): BreakerRegistry {
  return processBreakers;
}

/**
 * Retry policy for idempotent requests: on a transport failure try again, up to
 * `maxAttempts` retries, after an exponential backoff with decorrelated jitter
 * (cockatiel's default generator) from `initialDelayMs` up to `maxDelayMs`. On NATS the retry
 * may reach another instance of the queue group.
 */
export function idempotentRetry(opts: { maxAttempts?: number; initialDelayMs?: number; maxDelayMs?: number } = {}): RetryPolicy {
  return retry(handleWhen(isTransportFailure), {
    maxAttempts: opts.maxAttempts ?? 2,
    backoff: new ExponentialBackoff({ initialDelay: opts.initialDelayMs ?? 50, maxDelay: opts.maxDelayMs ?? 500 }),
  });
}

/** A request refused without being sent because the target's circuit breaker is open. */
export class CircuitOpenError extends BusError {
  constructor(readonly target: string) {
    super("CIRCUIT_OPEN", `circuit breaker of ${target} is open: failing fast`);
  }
}

/**
 * Runs `fn` through the breaker of `target`; an open breaker rejects with {@link CircuitOpenError}
 * (a BusError, so callers treat it like the target being unreachable).
 */
export async function throughBreaker<T>(target: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await breakers().get(target).execute(fn);
  } catch (err) {
    if (err instanceof BrokenCircuitError) throw new CircuitOpenError(target);
    throw err;
  }
}

export { BrokenCircuitError };
