import { describe, expect, test } from "bun:test";
import { eventually, EventuallyTimeout, GiveUp } from "./eventually.ts";

describe("eventually", () => {
  test("resolves with the first result that is not false, after retrying", async () => {
    let n = 0;
    const got = await eventually("the third attempt", () => (++n >= 3 ? `done after ${n}` : false), { intervalMs: 1 });
    expect(got).toBe("done after 3");
    expect(n).toBe(3);
  });

  test("a throwing check is retried (an assertion can be the check)", async () => {
    let n = 0;
    await eventually("n to reach 2", () => expect(++n).toBe(2), { intervalMs: 1 });
    expect(n).toBe(2);
  });

  test("an async check is awaited; undefined counts as done", async () => {
    const got = await eventually("an async void check", async () => {
      await Bun.sleep(1);
    });
    expect(got).toBeUndefined();
  });

  test("times out naming what was awaited, the timeout, the attempts and the last result", async () => {
    const err = await eventually("the flag", () => false, { timeoutMs: 50, intervalMs: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EventuallyTimeout);
    expect((err as Error).message).toMatch(/^eventually: the flag did not happen within 50 ms \(\d+ attempts\); last result: false$/);
  });

  test("times out with the last error when the last attempt threw", async () => {
    let n = 0;
    const err = await eventually(
      "the server",
      () => {
        throw new Error(`refused #${++n}`);
      },
      { timeoutMs: 30, intervalMs: 5 },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EventuallyTimeout);
    expect((err as Error).message).toContain(`last error: Error: refused #${n}`);
    expect((err as EventuallyTimeout).lastError).toBeInstanceOf(Error);
  });

  test("waits at least timeoutMs before giving up, and not much longer", async () => {
    const t0 = performance.now();
    await eventually("never", () => false, { timeoutMs: 100, intervalMs: 30 }).catch(() => {});
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(99);
    expect(took).toBeLessThan(1000);
  });

  test("a GiveUp ends the wait at once and is rethrown as it is", async () => {
    let n = 0;
    const t0 = performance.now();
    const err = await eventually(
      "a process that exited",
      () => {
        n++;
        throw new GiveUp("process exited with 1");
      },
      { timeoutMs: 5000 },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GiveUp);
    expect((err as Error).message).toBe("process exited with 1");
    expect(n).toBe(1);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  test("the check runs once even with a zero timeout", async () => {
    let n = 0;
    await eventually("one attempt", () => ++n === 1, { timeoutMs: 0 });
    expect(n).toBe(1);
  });
});
