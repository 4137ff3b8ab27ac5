/**
 * The call policy (src/kernel/policy): timeout handed to each attempt and enforced by the
 * transport, breaker opening after N consecutive transport failures and half-opening after the
 * reset time, retries only for idempotent calls, answers (error replies) that neither trip nor
 * retry, one metrics observation per call, and the backoff stages used by the etcd clients, the
 * aggregator and the election.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { BusClosedError, BusTimeoutError, NoRespondersError } from "../../src/kernel/bus/errors.ts";
import { AppError } from "../../src/kernel/errors.ts";
import {
  BackoffSchedule,
  CircuitOpenError,
  configureBreakers,
  createCallPolicy,
  DEFAULT_BREAKER,
  requestTimeout,
  retryUntilDone,
  SUBGRAPH_UNAVAILABLE,
  subgraphUnavailableResult,
  type CallOutcome,
} from "../../src/kernel/policy/index.ts";

const FAST_RETRY = { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 2 };
const down = (subject = "t.down") => Promise.reject(new BusTimeoutError(subject, 10));

afterEach(() => configureBreakers(DEFAULT_BREAKER));

describe("timeout stage", () => {
  test("each attempt gets the policy's timeout, a call may override it, and the transport enforces it", async () => {
    const seen: (number | undefined)[] = [];
    const policy = createCallPolicy({ timeoutMs: 1234, retry: FAST_RETRY });
    await policy.execute(async (a) => void seen.push(a.timeoutMs));
    await policy.execute(async (a) => void seen.push(a.timeoutMs), { timeoutMs: 77 });
    await createCallPolicy().execute(async (a) => void seen.push(a.timeoutMs));
    expect(seen).toEqual([1234, 77, undefined]);

    const bus = createMemoryBus();
    bus.subscribe("t.silent", () => {
      // never answers
    });
    const started = performance.now();
    const err = await createCallPolicy({ timeoutMs: 60 })
      .execute((a) => bus.request("t.silent", undefined, a.timeoutMs === undefined ? {} : { timeoutMs: a.timeoutMs }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusTimeoutError);
    expect((err as BusTimeoutError).timeoutMs).toBe(60);
    expect(performance.now() - started).toBeLessThan(1000);
    await bus.close();
  });

  test("BUS_TIMEOUTS: the first matching pattern replaces the caller's timeout", () => {
    const timeouts = [
      { pattern: "catalog.stock.*", timeoutMs: 2000 },
      { pattern: "catalog.>", timeoutMs: 9000 },
    ];
    expect(requestTimeout(timeouts, "catalog.stock.reserve", 100)).toBe(2000);
    expect(requestTimeout(timeouts, "catalog.product.get", 100)).toBe(9000);
    expect(requestTimeout(timeouts, "order.get", 100)).toBe(100);
    expect(requestTimeout(timeouts, "order.get", undefined)).toBeUndefined();
  });
});

describe("circuit breaker stage", () => {
  test("opens after N consecutive transport failures, fails fast, half-opens after the reset time and closes on success", async () => {
    const reg = configureBreakers({ failures: 3, resetMs: 80 });
    const policy = createCallPolicy({ target: "t:breaker" });
    for (let i = 0; i < 2; i++) await expect(policy.execute(() => down())).rejects.toBeInstanceOf(BusTimeoutError);
    expect(reg.states()["t:breaker"]).toBe("closed");
    await expect(policy.execute(() => down())).rejects.toBeInstanceOf(BusTimeoutError);
    expect(reg.states()["t:breaker"]).toBe("open");
    let called = 0;
    const err = await policy.execute(async () => void called++).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CircuitOpenError);
    expect((err as CircuitOpenError).target).toBe("t:breaker");
    expect(called).toBe(0);
    await Bun.sleep(120);
    // Half-open: one trial call goes through; its failure opens the breaker again at once.
    await expect(policy.execute(() => down())).rejects.toBeInstanceOf(BusTimeoutError);
    expect(reg.states()["t:breaker"]).toBe("open");
    await Bun.sleep(120);
    expect(await policy.execute(async () => "back")).toBe("back");
    expect(reg.states()["t:breaker"]).toBe("closed");
  });

  test("answers (error replies) and other errors do not count; an answer resets the count", async () => {
    const reg = configureBreakers({ failures: 2, resetMs: 5000 });
    const policy = createCallPolicy({ target: "t:answers", isAnswer: (e) => e instanceof AppError });
    await expect(policy.execute(() => down())).rejects.toBeInstanceOf(BusTimeoutError);
    await expect(policy.execute(() => Promise.reject(new AppError("NOT_FOUND", "no such thing")))).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await expect(policy.execute(() => down())).rejects.toBeInstanceOf(BusTimeoutError);
    expect(reg.states()["t:answers"]).toBe("closed");
    await expect(policy.execute(() => Promise.reject(new BusClosedError()))).rejects.toBeInstanceOf(BusClosedError);
    expect(reg.states()["t:answers"]).toBe("closed");
  });

  test("the caller's failure predicate decides what trips the breaker (e.g. an HTTP subgraph that cannot be reached)", async () => {
    class Unreachable extends Error {}
    const reg = configureBreakers({ failures: 2, resetMs: 5000 });
    const policy = createCallPolicy({ target: "t:custom", isFailure: (e) => e instanceof Unreachable });
    // A bus failure is not a failure for this caller: passed through, not counted.
    for (let i = 0; i < 3; i++) await expect(policy.execute(() => down())).rejects.toBeInstanceOf(BusTimeoutError);
    expect(reg.states()["t:custom"]).toBe("closed");
    for (let i = 0; i < 2; i++) await expect(policy.execute(() => Promise.reject(new Unreachable()))).rejects.toBeInstanceOf(Unreachable);
    expect(reg.states()["t:custom"]).toBe("open");
  });

  test("a request nobody served during its whole wait counts once and is not retried; after N the breaker fails fast; a raw no-responders counts nothing", async () => {
    const reg = configureBreakers({ failures: 2, resetMs: 80 });
    const policy = createCallPolicy({ target: "t:absent", retry: FAST_RETRY });
    let calls = 0;
    const absent = () => (calls++, Promise.reject(new NoRespondersError("t.absent", 10)));
    await expect(policy.execute(absent, { idempotent: true })).rejects.toBeInstanceOf(NoRespondersError);
    expect(calls).toBe(1);
    expect(reg.states()["t:absent"]).toBe("closed");
    await expect(policy.execute(absent, { idempotent: true })).rejects.toBeInstanceOf(NoRespondersError);
    expect(calls).toBe(2);
    expect(reg.states()["t:absent"]).toBe("open");
    // Open: the next calls fail fast instead of waiting their whole timeout again.
    await expect(policy.execute(absent)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(calls).toBe(2);
    await Bun.sleep(120);
    expect(await policy.execute(async () => "served")).toBe("served");
    expect(reg.states()["t:absent"]).toBe("closed");
    // An immediate no-responders of a raw transport (no wait happened) is passed through uncounted.
    const raw = configureBreakers({ failures: 1, resetMs: 5000 });
    for (let i = 0; i < 2; i++)
      await expect(policy.execute(() => Promise.reject(new NoRespondersError("t.absent")))).rejects.toBeInstanceOf(NoRespondersError);
    expect(raw.states()["t:absent"]).toBe("closed");
  });

  test("a retry that finds nobody after a timeout throws the timeout: an earlier attempt may have been applied", async () => {
    configureBreakers({ failures: 5, resetMs: 5000 });
    const policy = createCallPolicy({ target: "t:maybe", retry: FAST_RETRY });
    const seen: number[] = [];
    const err = await policy
      .execute((a) => (seen.push(a.index), a.index === 0 ? down() : Promise.reject(new NoRespondersError("t.maybe", 10))), {
        idempotent: true,
      })
      .catch((e: unknown) => e);
    expect(seen).toEqual([0, 1]);
    expect(err).toBeInstanceOf(BusTimeoutError);
  });

  test("configureBreakers applies to policies created before it", async () => {
    const policy = createCallPolicy({ target: "t:reconfigured" });
    configureBreakers({ failures: 1, resetMs: 5000 });
    await expect(policy.execute(() => down())).rejects.toBeInstanceOf(BusTimeoutError);
    await expect(policy.execute(async () => 1)).rejects.toBeInstanceOf(CircuitOpenError);
  });
});

describe("retry stage", () => {
  test("transport failures are retried only for idempotent calls, with the attempt index", async () => {
    const policy = createCallPolicy({ retry: FAST_RETRY });
    const indexes: number[] = [];
    await expect(policy.execute((a) => (indexes.push(a.index), down()))).rejects.toBeInstanceOf(BusTimeoutError);
    expect(indexes).toEqual([0]);
    indexes.length = 0;
    await expect(policy.execute((a) => (indexes.push(a.index), down()), { idempotent: true })).rejects.toBeInstanceOf(BusTimeoutError);
    expect(indexes).toEqual([0, 1, 2]);
    indexes.length = 0;
    expect(await policy.execute(async (a) => (indexes.push(a.index), a.index < 1 ? down() : "second"), { idempotent: true })).toBe(
      "second",
    );
    expect(indexes).toEqual([0, 1]);
  });

  test("answers, other errors and an open breaker are never retried", async () => {
    configureBreakers({ failures: 1, resetMs: 5000 });
    const policy = createCallPolicy({ target: "t:retry", retry: FAST_RETRY, isAnswer: (e) => e instanceof AppError });
    let calls = 0;
    await expect(
      policy.execute(() => (calls++, Promise.reject(new AppError("OUT_OF_STOCK", "none left"))), { idempotent: true }),
    ).rejects.toBeInstanceOf(AppError);
    await expect(policy.execute(() => (calls++, Promise.reject(new TypeError("bug"))), { idempotent: true })).rejects.toBeInstanceOf(
      TypeError,
    );
    expect(calls).toBe(2);
    // Each attempt passes the breaker: the first failure opens it, the retry fails fast.
    calls = 0;
    await expect(policy.execute(() => (calls++, down()), { idempotent: true })).rejects.toBeInstanceOf(CircuitOpenError);
    expect(calls).toBe(1);
  });
});

describe("metrics stage", () => {
  test("one observation per call (all attempts), with its outcome and duration", async () => {
    configureBreakers({ failures: 4, resetMs: 5000 });
    const seen: [CallOutcome, number][] = [];
    const policy = createCallPolicy({
      target: "t:metrics",
      retry: FAST_RETRY,
      resultOutcome: (v) => (v === "bad" ? "error" : "ok"),
      observe: (outcome, seconds) => seen.push([outcome, seconds]),
    });
    await policy.execute(async () => "good");
    await policy.execute(async () => "bad");
    await policy.execute(() => down(), { idempotent: true }).catch(() => undefined);
    await policy.execute(() => Promise.reject(new TypeError("bug"))).catch(() => undefined);
    await policy.execute(() => down()).catch(() => undefined);
    await policy.execute(async () => "fail fast").catch(() => undefined);
    expect(seen.map(([o]) => o)).toEqual(["ok", "error", "unavailable", "error", "unavailable", "circuit_open"]);
    for (const [, seconds] of seen) expect(seconds).toBeGreaterThanOrEqual(0);
  });
});

describe("backoff stages", () => {
  test("BackoffSchedule without jitter doubles up to the cap and starts over after reset", () => {
    const s = new BackoffSchedule({ initialDelayMs: 500, maxDelayMs: 10_000, jitter: false });
    expect(Array.from({ length: 7 }, () => s.next())).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    s.reset();
    expect(s.next()).toBe(500);
  });

  test("BackoffSchedule with jitter stays within the cap", () => {
    const s = new BackoffSchedule({ initialDelayMs: 50, maxDelayMs: 500 });
    for (let i = 0; i < 20; i++) {
      const d = s.next();
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(500);
    }
  });

  test("retryUntilDone retries until success, reporting each failure", async () => {
    const failures: number[] = [];
    const value = await retryUntilDone(async (attempt) => (attempt < 4 ? Promise.reject(new Error(`no ${attempt}`)) : attempt), {
      initialDelayMs: 1,
      maxDelayMs: 4,
      stopped: () => false,
      onFailure: (_err, attempt) => failures.push(attempt),
    });
    expect(value).toBe(4);
    expect(failures).toEqual([1, 2, 3]);
  });

  test("retryUntilDone ends with undefined once stopped, without another attempt", async () => {
    let stopped = false;
    let attempts = 0;
    const value = await retryUntilDone(
      async () => {
        attempts++;
        if (attempts === 3) stopped = true;
        throw new Error("down");
      },
      { initialDelayMs: 1, maxDelayMs: 2, stopped: () => stopped },
    );
    expect(value).toBeUndefined();
    expect(attempts).toBe(3);
    expect(await retryUntilDone(async () => 1, { initialDelayMs: 1, maxDelayMs: 1, stopped: () => true })).toBeUndefined();
  });
});

test("SUBGRAPH_UNAVAILABLE: one shape for an unreachable subgraph", () => {
  expect(JSON.parse(JSON.stringify(subgraphUnavailableResult("account", "no responders")))).toEqual({
    errors: [{ message: "subgraph account unavailable: no responders", extensions: { code: SUBGRAPH_UNAVAILABLE, subgraph: "account" } }],
  });
});
