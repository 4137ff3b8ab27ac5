/**
 * The timeout stage of bus requests: per-subject timeouts (`BUS_TIMEOUTS`) that replace the
 * caller's. The transport enforces the resulting timeout (only it can drop the reply inbox and
 * raise `BusTimeoutError`); this is the one place that decides how long a request may take.
 */
import { matches } from "../bus/subject.ts";

/** A per-subject timeout: requests whose subject matches `pattern` (NATS wildcards) wait `timeoutMs`. */
export interface SubjectTimeout {
  pattern: string;
  timeoutMs: number;
}

/**
 * The timeout of a request to `subject`, ms: the first matching entry of `timeouts`, else the
 * caller's `callerMs` (undefined: the transport's default).
 */
export function requestTimeout(timeouts: readonly SubjectTimeout[], subject: string, callerMs: number | undefined): number | undefined {
  for (const t of timeouts) if (matches(t.pattern, subject)) return t.timeoutMs;
  return callerMs;
}
