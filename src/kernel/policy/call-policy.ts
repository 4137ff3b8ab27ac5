/**
 * The call policy: how this code base calls something that may be down. Composed once with
 * cockatiel, outermost first:
 *
 *   metrics → retry (idempotent calls only) → circuit breaker (per target) → timeout → attempt
 *
 * - timeout: each attempt gets the call's timeout (ms) and hands it to the transport, which
 *   enforces it (a bus request drops its reply inbox; an HTTP fetch aborts). Bus requests get
 *   their per-subject timeout (`BUS_TIMEOUTS`) from the instrumented bus, see `timeouts.ts`,
 *   and wait within it for a responder when nobody serves the subject (`bus/responder-wait.ts`);
 * - circuit breaker: the process-wide breaker of `target` (`BREAKER_FAILURES` consecutive
 *   transport failures open it: timeouts, and requests nobody served during their whole wait,
 *   see `failures.ts`; after `BREAKER_RESET_MS` one trial call half-opens it). An open
 *   breaker fails fast with {@link CircuitOpenError}, which is not retried;
 * - retry: timeouts of calls marked idempotent (queries, lookups, commands carrying an
 *   idempotency key) are retried with exponential backoff and jitter; never other calls, never
 *   a request nobody served (its wait for a responder was the retry);
 * - metrics: one observation per call (all attempts), outcome `ok` | `error` | `unavailable` |
 *   `circuit_open`, in seconds.
 *
 * An answer that is an error (a responder's error reply, `isAnswer`) proves the target is up:
 * it counts as a success for the breaker and is never retried, then reaches the caller as thrown.
 */
import { BrokenCircuitError, wrap, type IDefaultPolicyContext, type IPolicy, type RetryPolicy } from "cockatiel";
import { breakers, type BreakerRegistry } from "./breakers.ts";
import { BusError, NoRespondersError } from "../bus/errors.ts";
import { CircuitOpenError, isResponderWaitExhausted, isTransportFailure, NotCounted } from "./failures.ts";
import { DEFAULT_RETRY, transportRetry, type FailurePredicate, type RetrySettings } from "./stages.ts";

/** Outcome label of a call, as metrics record it. */
export type CallOutcome = "ok" | "error" | "unavailable" | "circuit_open";

/** What one attempt is given. */
export interface Attempt {
  /** 0 for the first attempt, 1 for the first retry, ... */
  index: number;
  /** The attempt's timeout, ms (the transport enforces it); undefined: the transport's default. */
  timeoutMs: number | undefined;
}

/** Options of {@link createCallPolicy}. */
export interface CallPolicyOptions {
  /** Breaker target in the process-wide registry (`subgraph:<name>`, `subject:<subject>`); none: no breaker. */
  target?: string;
  /** Timeout of each attempt, ms, handed to the attempt. */
  timeoutMs?: number;
  /**
   * Failures that trip the breaker and, for idempotent calls, are retried (default: a bus timeout
   * or a request nobody served during its whole wait, see failures.ts; the latter is never retried).
   */
  isFailure?: FailurePredicate;
  /** Errors that are the target's answer (e.g. an `AppError` reply): a success for breaker and retry. */
  isAnswer?: (err: unknown) => boolean;
  /** Retries of idempotent calls (default {@link DEFAULT_RETRY}). */
  retry?: RetrySettings;
  /** Failures labelled `unavailable` rather than `error` in metrics (default: any `BusError`). */
  isUnavailable?: (err: unknown) => boolean;
  /** Outcome of a call that returned `value` (default `ok`): e.g. `error` for a GraphQL result with errors. */
  resultOutcome?: (value: unknown) => CallOutcome;
  /** Metrics stage: called once per call with its outcome and duration in seconds. */
  observe?: (outcome: CallOutcome, seconds: number) => void;
}

/** Per-call options of {@link CallPolicy.execute}. */
export interface CallOptions {
  /** Whether the call may be repeated safely; only then are transport failures retried. */
  idempotent?: boolean;
  /** Overrides the policy's timeout for this call, ms. */
  timeoutMs?: number;
}

/** A composed call policy; see the module comment. */
export interface CallPolicy {
  /**
   * Runs `attempt` through the policy.
   * @returns the attempt's value.
   * @throws CircuitOpenError while the target's breaker is open; the last attempt's error
   *   otherwise (a transport failure after the retries, an answer error, any other error).
   *   `NoRespondersError` only when no attempt may have reached a responder: when a retry found
   *   nobody after an earlier attempt timed out (that one may have been received and applied),
   *   the earlier timeout is thrown instead, so a caller may take `NoRespondersError` as "not
   *   applied" whether the call was retried or not.
   */
  execute<T>(attempt: (a: Attempt) => Promise<T>, opts?: CallOptions): Promise<T>;
}

/** The signal of a call that runs without any cockatiel stage (no target, not idempotent). */
const NEVER_ABORTED = new AbortController().signal;

/** Wraps an answer error so cockatiel sees a value (a success), unwrapped after the policy. */
class Answer {
  constructor(readonly err: unknown) {}
}

/**
 * Builds a call policy. The breaker is looked up per call in the process-wide registry (so
 * `configureBreakers` at start applies); the cockatiel composition is cached per registry.
 */
export function createCallPolicy(opts: CallPolicyOptions = {}): CallPolicy {
  const isFailure = opts.isFailure ?? isTransportFailure;
  const isUnavailable = opts.isUnavailable ?? ((err: unknown) => err instanceof BusError);
  // A request nobody served already waited (and resent) until its deadline: no retry on top.
  const retryPolicy: RetryPolicy = transportRetry((err) => isFailure(err) && !isResponderWaitExhausted(err), opts.retry ?? DEFAULT_RETRY);
  let composedFor: BreakerRegistry | undefined;
  let once: IPolicy | undefined;
  let retried: IPolicy | undefined;
  const policies = (): { once: IPolicy | undefined; retried: IPolicy } => {
    if (opts.target === undefined) return { once: undefined, retried: retryPolicy };
    const registry = breakers();
    if (registry !== composedFor || once === undefined || retried === undefined) {
      composedFor = registry;
      once = registry.get(opts.target);
      retried = wrap(retryPolicy, once);
    }
    return { once, retried };
  };
  const target = opts.target ?? "";

  return {
    async execute<T>(attempt: (a: Attempt) => Promise<T>, call: CallOptions = {}): Promise<T> {
      const start = performance.now();
      const timeoutMs = call.timeoutMs ?? opts.timeoutMs;
      // The first failure of an attempt that may have reached a responder (a timeout).
      let maybeDelivered: unknown;
      // Under a retry the context carries the attempt number (merged through `wrap`).
      const run = async (context: IDefaultPolicyContext & { attempt?: number }): Promise<T | Answer> => {
        try {
          return await attempt({ index: context.attempt ?? 0, timeoutMs });
        } catch (err) {
          if (opts.isAnswer?.(err)) return new Answer(err);
          if (isFailure(err)) {
            if (!(err instanceof NoRespondersError)) maybeDelivered ??= err;
            throw err;
          }
          // Neither an answer nor a failure (a bug, a closed bus): the breaker must not count it.
          throw new NotCounted(err);
        }
      };
      let outcome: CallOutcome = "ok";
      try {
        const { once: breaker, retried } = policies();
        const policy = call.idempotent ? retried : breaker;
        let value: T | Answer;
        try {
          value = policy ? await policy.execute(run) : await run({ signal: NEVER_ABORTED });
        } catch (err) {
          if (err instanceof BrokenCircuitError) throw new CircuitOpenError(target);
          if (err instanceof NotCounted) throw err.error;
          // Nobody received the last attempt, but an earlier one may have been applied.
          if (err instanceof NoRespondersError && maybeDelivered !== undefined) throw maybeDelivered;
          throw err;
        }
        if (value instanceof Answer) throw value.err;
        outcome = opts.resultOutcome?.(value) ?? "ok";
        return value;
      } catch (err) {
        outcome = err instanceof CircuitOpenError ? "circuit_open" : isUnavailable(err) ? "unavailable" : "error";
        throw err;
      } finally {
        opts.observe?.(outcome, (performance.now() - start) / 1000);
      }
    },
  };
}
