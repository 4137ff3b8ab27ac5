import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { instrumentBus } from "../../src/kernel/bus/instrumented.ts";
import { BusTimeoutError, NoRespondersError } from "../../src/kernel/bus/errors.ts";
import { BreakerRegistry, CircuitOpenError, configureBreakers, createCallPolicy, DEFAULT_BREAKER } from "../../src/kernel/policy/index.ts";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { parseBusTimeouts } from "../../src/kernel/config.ts";
import { Kernel } from "../../src/kernel/kernel.ts";
import { createMemoryRegistry } from "../../src/kernel/registry/memory.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import { metricsRegistry, subjectLabel } from "../../src/kernel/metrics.ts";
import type { ModuleContext } from "../../src/kernel/module.ts";
import { defineCommand } from "../../src/kernel/contract/define.ts";
import { z } from "zod";
import { testConfig } from "../helpers/modules.ts";

function sample(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && want.every((w) => l.includes(w)));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
}

describe("BUS_TIMEOUTS", () => {
  test("parses pattern=ms pairs in order; rejects malformed entries with one line", () => {
    expect(parseBusTimeouts("catalog.stock.*=2000, graphql.>=10000")).toEqual([
      { pattern: "catalog.stock.*", timeoutMs: 2000 },
      { pattern: "graphql.>", timeoutMs: 10000 },
    ]);
    expect(parseBusTimeouts("")).toEqual([]);
    for (const bad of ["catalog.stock.*", "a=0", "a=x", "a..b=10", "=10"]) expect(() => parseBusTimeouts(bad)).toThrow(ConfigError);
    expect(() => loadConfig([], { BUS_TIMEOUTS: "nope" }, { parts: ["gateway"] })).toThrow(/BUS_TIMEOUTS: invalid value "nope"/);
    const r = loadConfig([], { BUS_TIMEOUTS: "x.*=50" }, { parts: ["gateway"] });
    expect(r.help === false && r.config.busTimeouts).toEqual([{ pattern: "x.*", timeoutMs: 50 }]);
  });

  test("the first matching pattern's timeout replaces the caller's; outcomes are labelled", async () => {
    const raw = createMemoryBus();
    const bus = instrumentBus(raw, {
      timeouts: [
        { pattern: "slow.*", timeoutMs: 50 },
        { pattern: "nobody.*", timeoutMs: 300 },
        { pattern: ">", timeoutMs: 5000 },
      ],
    });
    bus.subscribe("slow.never", () => {
      // never replies
    });
    const before = await metricsRegistry.metrics();
    const err = await bus.request("slow.never", undefined, { timeoutMs: 60_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusTimeoutError);
    expect((err as BusTimeoutError).timeoutMs).toBe(50);
    // Nobody serves it: the request waits for a responder until its (per-subject) deadline,
    // less the last 100 ms in which no attempt is sent (attemptFloorMs).
    const waited = await bus.request("nobody.home").catch((e: unknown) => e);
    expect(waited).toBeInstanceOf(NoRespondersError);
    expect((waited as NoRespondersError).waitedMs).toBeGreaterThanOrEqual(180);
    const after = await metricsRegistry.metrics();
    const d = (labels: Record<string, string>) =>
      sample(after, "switchyard_bus_request_duration_seconds_count", labels) -
      sample(before, "switchyard_bus_request_duration_seconds_count", labels);
    expect(d({ subject: "slow.never", outcome: "timeout" })).toBe(1);
    expect(d({ subject: "nobody.home", outcome: "no_responders" })).toBe(1);
    await raw.close();
  });

  test("subject labels never carry ids", () => {
    expect(subjectLabel("graphql.catalog")).toBe("graphql.catalog");
    expect(subjectLabel("catalog.stock.reserve")).toBe("catalog.stock.reserve");
    expect(subjectLabel("_INBOX.abc.def")).toBe("_INBOX.>");
    expect(subjectLabel("order.2ZfKJ0wYwHhHQvPaRKcA1fC3xYz.paid")).toBe("order.*.paid");
    expect(subjectLabel("payment.4711.capture")).toBe("payment.*.capture");
  });
});

describe("circuit breaker", () => {
  /** One call through the call policy's breaker of `target` (not idempotent: no retry). */
  const throughBreaker = <T>(target: string, fn: () => Promise<T>): Promise<T> => createCallPolicy({ target }).execute(fn);
  test("opens after N consecutive transport failures, fails fast, half-opens after resetMs and closes on success", async () => {
    const reg = configureBreakers({ failures: 2, resetMs: 100 });
    const target = "subject:test.breaker";
    const fail = () => Promise.reject(new BusTimeoutError("test.breaker", 10));
    await expect(throughBreaker(target, fail)).rejects.toBeInstanceOf(BusTimeoutError);
    // Any answer proves the target is up and resets the count.
    expect(await throughBreaker(target, async () => "an error reply")).toBe("an error reply");
    await expect(throughBreaker(target, fail)).rejects.toBeInstanceOf(BusTimeoutError);
    expect(reg.states()[target]).toBe("closed");
    await expect(throughBreaker(target, fail)).rejects.toBeInstanceOf(BusTimeoutError);
    expect(reg.states()[target]).toBe("open");
    let called = false;
    await expect(throughBreaker(target, async () => void (called = true))).rejects.toBeInstanceOf(CircuitOpenError);
    expect(called).toBe(false);
    expect(sample(await metricsRegistry.metrics(), "switchyard_circuit_breaker_state", { target })).toBe(2);
    await Bun.sleep(150); // the breaker's cool-down is time itself: past it, the next call is let through (half-open)
    expect(await throughBreaker(target, async () => "back")).toBe("back");
    expect(reg.states()[target]).toBe("closed");
    expect(sample(await metricsRegistry.metrics(), "switchyard_circuit_breaker_state", { target })).toBe(0);
    configureBreakers(DEFAULT_BREAKER);
  });

  test("a registry keeps one breaker per target", () => {
    const reg = new BreakerRegistry({ failures: 3, resetMs: 1000 });
    expect(reg.get("a")).toBe(reg.get("a"));
    expect(reg.get("a")).not.toBe(reg.get("b"));
  });
});

/** A command on `subject` with an empty request and any reply (what these tests send is not the point). */
const anyCommand = (subject: string) => defineCommand(subject, { request: z.object({}), reply: z.unknown() });

describe("module calls: retries only when idempotent", () => {
  let kernel: Kernel;
  let ctx: ModuleContext | undefined;
  const bus = createMemoryBus();
  beforeAll(async () => {
    kernel = new Kernel({ bus, registry: createMemoryRegistry(), config: testConfig(), logger: createLogger({ level: "silent" }) });
    kernel.addModule({
      name: "caller",
      version: "1.0.0",
      dependsOn: [],
      typeDefs: `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])\ntype Query { x: String }`,
      subjects: [],
      publishes: [],
      consumes: [],
      async start(c) {
        ctx = c;
        return { resolvers: { Query: { x: () => "x" } } };
      },
    });
    await kernel.start();
  });
  afterAll(async () => {
    await kernel.stop();
    await bus.close();
    rmSync(kernel.config.dataDir, { recursive: true, force: true });
  });

  /** Calls `subject`, served by a responder that never answers; returns how often it received the call. */
  const attempts = async (subject: string, idempotent: boolean): Promise<number> => {
    let received = 0;
    const sub = kernel.bus.subscribe(subject, () => void received++);
    const err = await ctx?.call(anyCommand(subject), {}, { idempotent, timeoutMs: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusTimeoutError);
    sub.unsubscribe();
    return received;
  };

  test("a non-idempotent command is sent once; an idempotent lookup is retried with backoff", async () => {
    expect(await attempts("silent.command", false)).toBe(1);
    expect(await attempts("silent.lookup", true)).toBe(3);
  });

  test("nobody serving the subject: a command (idempotent or not) waits for a responder and is handled once", async () => {
    const before = await metricsRegistry.metrics();
    const call = ctx?.call(anyCommand("late.command"), {}, { timeoutMs: 3000 });
    await Bun.sleep(150); // the module serving it starts a moment later (a hand-over)
    let handled = 0;
    const sub = kernel.bus.subscribe("late.command", (m) => {
      handled++;
      m.respond(new TextEncoder().encode(JSON.stringify({ ok: true })));
    });
    expect(await call).toEqual({ ok: true });
    expect(handled).toBe(1);
    const after = await metricsRegistry.metrics();
    const waits = (t: string) => sample(t, "switchyard_bus_no_responder_waits_total", { subject: "late.command" });
    expect(waits(after) - waits(before)).toBe(1);
    sub.unsubscribe();
  });

  test("a module absent for good: each call waits its whole timeout once (not retried), BREAKER_FAILURES such waits open the breaker, then calls fail fast; a brief absence counts nothing", async () => {
    const reg = configureBreakers({ failures: 2, resetMs: 60_000 });
    try {
      const target = "subject:gone.lookup";
      // Brief absence: the responder arrives within the wait, the call is answered, nothing counts.
      const brief = ctx?.call(anyCommand("gone.lookup"), {}, { idempotent: true, timeoutMs: 2000 });
      await Bun.sleep(100);
      const sub = kernel.bus.subscribe("gone.lookup", (m) => {
        m.respond(new TextEncoder().encode("{}"));
      });
      expect(await brief).toEqual({});
      sub.unsubscribe();
      // Gone for good: two full waits (an idempotent lookup: still one attempt each).
      for (let i = 0; i < 2; i++) {
        expect(reg.states()[target]).toBe("closed");
        const started = performance.now();
        const err = await ctx?.call(anyCommand("gone.lookup"), {}, { idempotent: true, timeoutMs: 300 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(NoRespondersError);
        expect(performance.now() - started).toBeLessThan(600);
      }
      expect(reg.states()[target]).toBe("open");
      const started = performance.now();
      await expect(ctx?.call(anyCommand("gone.lookup"), {}, { timeoutMs: 300 })).rejects.toBeInstanceOf(CircuitOpenError);
      expect(performance.now() - started).toBeLessThan(50);
    } finally {
      configureBreakers(DEFAULT_BREAKER);
    }
  });

  test("a responder's error reply is never retried", async () => {
    let calls = 0;
    const sub = kernel.bus.subscribe("errs.lookup", (m) => {
      calls++;
      m.respond(new TextEncoder().encode(JSON.stringify({ message: "no such thing" })), { headers: { "sy-error": "NOT_FOUND" } });
    });
    await expect(ctx?.call(anyCommand("errs.lookup"), {}, { idempotent: true })).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(calls).toBe(1);
    sub.unsubscribe();
  });
});
