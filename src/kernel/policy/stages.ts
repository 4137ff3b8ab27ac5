/**
 * The cockatiel stages every policy of this code base is built from: a consecutive-failure
 * circuit breaker, a retry with exponential backoff, a backoff schedule and a retry-until-done
 * loop. Callers pick which failures count (bus transport failures, etcd's recoverable gRPC
 * errors, ...); the numbers stay with the caller that owns them.
 *
 * cockatiel: https://github.com/connor4312/cockatiel (decorrelated jitter from Polly's
 * `DecorrelatedJitterBackoffV2`).
 */
import {
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  decorrelatedJitterGenerator,
  handleWhen,
  noJitterGenerator,
  retry,
  type CircuitBreakerPolicy,
  type IBackoff,
  type RetryPolicy,
} from "cockatiel";

/** Which errors a stage acts on; every other error passes through untouched. */
export type FailurePredicate = (err: unknown) => boolean;

/** A consecutive-failure breaker: opens after `failures` failures in a row, half-opens after `resetMs`. */
export function transportBreaker(isFailure: FailurePredicate, settings: { failures: number; resetMs: number }): CircuitBreakerPolicy {
  return circuitBreaker(handleWhen(isFailure), {
    halfOpenAfter: settings.resetMs,
    breaker: new ConsecutiveBreaker(settings.failures),
  });
}

/** An exponential backoff: `initialDelayMs` doubling up to `maxDelayMs`. */
export interface BackoffSettings {
  /** First delay, ms. */
  initialDelayMs: number;
  /** Largest delay, ms. */
  maxDelayMs: number;
  /**
   * `true` (default): decorrelated jitter, so that many clients retrying the same target spread
   * out. `false`: exactly `initialDelayMs · 2^n`, capped.
   */
  jitter?: boolean;
}

/** Retry settings: how many retries after the first attempt, and the backoff between them. */
export interface RetrySettings extends BackoffSettings {
  /** Retries after the first attempt (so `2` means at most 3 attempts). */
  maxAttempts: number;
}

/** The retry settings of idempotent bus requests: 2 retries, 50 ms → 500 ms with jitter. */
export const DEFAULT_RETRY: RetrySettings = { maxAttempts: 2, initialDelayMs: 50, maxDelayMs: 500 };

/** A cockatiel exponential backoff factory (for libraries that take one, e.g. etcd3's watch backoff). */
export function exponentialBackoff(settings: BackoffSettings): ExponentialBackoff<unknown> {
  return exponential(settings);
}

function exponential(settings: BackoffSettings): ExponentialBackoff<unknown> {
  const delays = { initialDelay: settings.initialDelayMs, maxDelay: settings.maxDelayMs };
  return (settings.jitter ?? true)
    ? new ExponentialBackoff({ ...delays, generator: decorrelatedJitterGenerator })
    : new ExponentialBackoff({ ...delays, generator: noJitterGenerator });
}

/** A retry policy for the failures `isFailure` accepts, with exponential backoff. */
export function transportRetry(isFailure: FailurePredicate, settings: RetrySettings = DEFAULT_RETRY): RetryPolicy {
  return retry(handleWhen(isFailure), { maxAttempts: settings.maxAttempts, backoff: exponential(settings) });
}

/**
 * A stateful backoff schedule for loops that wait between their own attempts (timers rather
 * than a wrapped call): `next()` gives the next delay, `reset()` starts over after a success.
 */
export class BackoffSchedule {
  readonly #factory: ExponentialBackoff<unknown>;
  #state: IBackoff<unknown> | undefined;

  constructor(settings: BackoffSettings) {
    this.#factory = exponential(settings);
  }

  /** The delay before the next attempt, ms (the first call gives `initialDelayMs` without jitter). */
  next(): number {
    this.#state = this.#state === undefined ? this.#factory.next() : this.#state.next(undefined);
    return this.#state.duration;
  }

  /** Forgets the failures: the next `next()` is the first delay again. */
  reset(): void {
    this.#state = undefined;
  }
}

/** Options of {@link retryUntilDone}. */
export interface RetryUntilDoneOptions extends BackoffSettings {
  /** Checked before every attempt and after every failure: `true` ends the loop. */
  stopped: () => boolean;
  /** Called with each failure and its attempt number (1-based), e.g. to log it. */
  onFailure?: (err: unknown, attempt: number) => void;
}

/** Thrown inside {@link retryUntilDone} when it was stopped before an attempt. */
class Stopped extends Error {}

/**
 * Runs `fn` until it resolves or `opts.stopped()` turns true, waiting an exponential backoff
 * between failures (a cockatiel retry without an attempt limit). For background work that must
 * eventually happen (re-registering after a lease loss, re-listing after a reconnect, campaigning).
 * @returns `fn`'s value, or `undefined` when stopped first. Never rejects.
 */
export async function retryUntilDone<T>(fn: (attempt: number) => Promise<T>, opts: RetryUntilDoneOptions): Promise<T | undefined> {
  const policy = retry(
    handleWhen((err) => !(err instanceof Stopped) && !opts.stopped()),
    { maxAttempts: Number.POSITIVE_INFINITY, backoff: exponential({ jitter: false, ...opts }) },
  );
  try {
    return await policy.execute(async ({ attempt }) => {
      if (opts.stopped()) throw new Stopped();
      try {
        return await fn(attempt + 1);
      } catch (err) {
        opts.onFailure?.(err, attempt + 1);
        throw err;
      }
    });
  } catch {
    // Only reached once stopped: every other failure is retried.
    return undefined;
  }
}
