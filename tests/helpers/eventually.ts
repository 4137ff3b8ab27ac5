/**
 * The one way tests wait for something asynchronous to become true (an event delivered, a row
 * written, a server answering):
 *
 * ```ts
 * await eventually("order PAID", async () => (await status(id)) === "PAID", { timeoutMs: 10_000 });
 * await eventually("the stock event", () => expect(events).toHaveLength(1)); // an assertion works too
 * ```
 *
 * Argument order is always (what, check, options). The check is retried every `intervalMs`
 * until it returns anything but `false` without throwing; a throw counts as "not yet" (its error
 * is kept for the failure message) unless it is a {@link GiveUp}, which ends the wait at once.
 * When the time is up the error names what was awaited, the timeout, the number of attempts
 * and the last result or error.
 */

/** How long and how often {@link eventually} checks. */
export interface EventuallyOptions {
  /** Give up after this many ms (default 5000). */
  timeoutMs?: number;
  /** Pause between two checks, ms (default 10). */
  intervalMs?: number;
}

/** Thrown by a check to stop waiting at once (e.g. the process under test exited): {@link eventually} rethrows it. */
export class GiveUp extends Error {
  override name = "GiveUp";
}

/** The error of a wait that timed out; `lastError` is the check's last throw, if its last attempt threw. */
export class EventuallyTimeout extends Error {
  override name = "EventuallyTimeout";
  constructor(
    message: string,
    readonly lastError?: unknown,
  ) {
    super(message, lastError === undefined ? undefined : { cause: lastError });
  }
}

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_INTERVAL_MS = 10;

/**
 * Retries `check` until it returns something other than `false` without throwing, and resolves
 * with that result. The check runs at least once, even with a zero timeout.
 *
 * @param what what is awaited, for the failure message ("order PAID", "the socket to close").
 * @throws {EventuallyTimeout} when `timeoutMs` passes first (message: what, timeout, attempts, last result or error).
 * @throws {GiveUp} as thrown by the check.
 */
export async function eventually<T>(what: string, check: () => T | Promise<T>, opts: EventuallyOptions = {}): Promise<Exclude<T, false>> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const intervalMs = opts.intervalMs ?? DEFAULT_INTERVAL_MS;
  const deadline = performance.now() + timeoutMs;
  let attempts = 0;
  let last: { value: unknown } | { error: unknown } = { value: undefined };
  for (;;) {
    attempts++;
    try {
      const value = await check();
      if (value !== false) return value as Exclude<T, false>;
      last = { value };
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      last = { error };
    }
    if (performance.now() >= deadline) break;
    await Bun.sleep(Math.max(0, Math.min(intervalMs, deadline - performance.now())));
  }
  const detail = "error" in last ? `last error: ${describeError(last.error)}` : `last result: ${String(last.value)}`;
  throw new EventuallyTimeout(
    `eventually: ${what} did not happen within ${timeoutMs} ms (${attempts} attempts); ${detail}`,
    "error" in last ? last.error : undefined,
  );
}

function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
