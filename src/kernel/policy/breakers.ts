/**
 * The circuit breakers of this process: one per target (`subgraph:account`,
 * `subject:catalog.stock.reserve`), cockatiel `ConsecutiveBreaker`s whose state is exported as
 * the `switchyard_circuit_breaker_state` gauge and listed at `GET /admin/health`.
 */
import { CircuitState, type CircuitBreakerPolicy } from "cockatiel";
import { BREAKER_STATE_VALUE, circuitBreakerState } from "../metrics.ts";
import { NotCounted } from "./failures.ts";
import { transportBreaker } from "./stages.ts";

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
 * The circuit breakers of this process, one per target name, created on first use with the same
 * settings. Every error counts except those the call policy marks {@link NotCounted}: the policy
 * decides what a failure is (a bus timeout, an HTTP subgraph that cannot be reached, ...).
 */
export class BreakerRegistry {
  readonly #breakers = new Map<string, CircuitBreakerPolicy>();
  constructor(readonly settings: BreakerSettings = DEFAULT_BREAKER) {}

  /** The breaker of `target`, created closed on first use. State changes update the gauge. */
  get(target: string): CircuitBreakerPolicy {
    let b = this.#breakers.get(target);
    if (!b) {
      b = transportBreaker((err) => !(err instanceof NotCounted), this.settings);
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
