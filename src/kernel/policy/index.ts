/**
 * The one call policy of Switchyard (timeout → circuit breaker → retry where idempotent →
 * metrics, on cockatiel) and the stages it is made of, for every caller: bus requests, both
 * subgraph executors, etcd, the aggregator's backoff and the election.
 */
export { breakers, configureBreakers, BreakerRegistry, DEFAULT_BREAKER, type BreakerSettings, type BreakerStateName } from "./breakers.ts";
export {
  createCallPolicy,
  type Attempt,
  type CallOptions,
  type CallOutcome,
  type CallPolicy,
  type CallPolicyOptions,
} from "./call-policy.ts";
export { CircuitOpenError, isTransportFailure } from "./failures.ts";
export {
  BackoffSchedule,
  DEFAULT_RETRY,
  exponentialBackoff,
  retryUntilDone,
  transportBreaker,
  transportRetry,
  type BackoffSettings,
  type FailurePredicate,
  type RetrySettings,
  type RetryUntilDoneOptions,
} from "./stages.ts";
export { SUBGRAPH_UNAVAILABLE, subgraphUnavailableError, subgraphUnavailableResult } from "./subgraph-errors.ts";
export { requestTimeout, type SubjectTimeout } from "./timeouts.ts";
