/**
 * Waiting for a responder (src/kernel/bus/responder-wait.ts, through the instrumented bus): a
 * request to a subject nobody serves is sent again with a backoff until its deadline, on the
 * memory bus and on a real nats-server alike, so a module handed over between instances loses
 * and duplicates nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { createNatsBus } from "../../src/kernel/bus/nats.ts";
import { instrumentBus } from "../../src/kernel/bus/instrumented.ts";
import { attemptFloorMs } from "../../src/kernel/bus/responder-wait.ts";
import { BusTimeoutError, NoRespondersError } from "../../src/kernel/bus/errors.ts";
import { encodeJson } from "../../src/kernel/bus/codec.ts";
import type { Bus } from "../../src/kernel/bus/types.ts";
import { metricsRegistry } from "../../src/kernel/metrics.ts";
import { startNats, type NatsServer } from "../../scripts/devservers/nats.ts";

let server: NatsServer;
beforeAll(async () => {
  server = await startNats();
});
afterAll(async () => {
  await server?.stop();
});

const waitsOf = async (subject: string): Promise<number> => {
  const line = (await metricsRegistry.metrics())
    .split("\n")
    .find((l) => l.startsWith("switchyard_bus_no_responder_waits_total{") && l.includes(`subject="${subject}"`));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
};

/** Two connections (caller and responder), as two processes would have; the memory bus is one. */
const TRANSPORTS: [string, () => Promise<[Bus, Bus, () => Promise<void>]>][] = [
  [
    "memory",
    async () => {
      const bus = createMemoryBus();
      return [bus, bus, () => bus.close()];
    },
  ],
  [
    "nats",
    async () => {
      const a = await createNatsBus({ servers: [server.url], name: "wait-caller" });
      const b = await createNatsBus({ servers: [server.url], name: "wait-responder" });
      return [a, b, async () => void (await Promise.all([a.close(), b.close()]))];
    },
  ],
];

describe.each(TRANSPORTS)("%s bus: a request with no responder waits", (_name, open) => {
  test("a responder that subscribes within the deadline gets the request exactly once", async () => {
    const [callerBus, responderBus, close] = await open();
    const caller = instrumentBus(callerBus);
    const subject = `wait.${crypto.randomUUID().slice(0, 8)}.cmd`;
    try {
      const before = await waitsOf("wait.*.cmd");
      const started = performance.now();
      const reply = caller.request(subject, encodeJson({ n: 1 }), { timeoutMs: 3000 });
      await Bun.sleep(300); // nobody serves it yet: the request is waiting, not failed
      let handled = 0;
      const sub = responderBus.subscribe(
        subject,
        (m) => {
          handled++;
          m.respond(encodeJson({ got: m.json<{ n: number }>().n }));
        },
        { queue: "mod" },
      );
      await responderBus.flush();
      expect((await reply).json()).toEqual({ got: 1 });
      expect(performance.now() - started).toBeGreaterThanOrEqual(300);
      expect(handled).toBe(1);
      expect((await waitsOf("wait.*.cmd")) - before).toBe(1);
      sub.unsubscribe();
    } finally {
      await close();
    }
  });

  test("still nobody at the deadline: NoRespondersError after waiting the whole timeout but its last floor; a silent responder: BusTimeoutError", async () => {
    const [callerBus, responderBus, close] = await open();
    const caller = instrumentBus(callerBus);
    const subject = `wait.${crypto.randomUUID().slice(0, 8)}.none`;
    try {
      const started = performance.now();
      // 500 ms: attempts are sent until 100 ms (attemptFloorMs) before the deadline.
      const err = await caller.request(subject, undefined, { timeoutMs: 500 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NoRespondersError);
      expect((err as NoRespondersError).waitedMs).toBeGreaterThanOrEqual(350);
      expect(performance.now() - started).toBeGreaterThanOrEqual(390);
      expect(performance.now() - started).toBeLessThan(1000);
      // A responder appears during the wait and never answers: the request times out at the original deadline.
      const pending = caller.request(subject, undefined, { timeoutMs: 400 }).catch((e: unknown) => e);
      await Bun.sleep(100);
      const sub = responderBus.subscribe(subject, () => {});
      const timedOut = await pending;
      expect(timedOut).toBeInstanceOf(BusTimeoutError);
      expect((timedOut as BusTimeoutError).timeoutMs).toBe(400);
      sub.unsubscribe();
    } finally {
      await close();
    }
  });

  test("no attempt is sent with less than the floor left: a responder arriving then never receives the request, the caller gets NoRespondersError", async () => {
    const [callerBus, responderBus, close] = await open();
    const caller = instrumentBus(callerBus);
    const subject = `wait.${crypto.randomUUID().slice(0, 8)}.late`;
    expect(attemptFloorMs(1000)).toBe(100);
    expect(attemptFloorMs(5000)).toBe(500);
    try {
      const pending = caller.request(subject, undefined, { timeoutMs: 1000 }).catch((e: unknown) => e);
      // 950 ms in: within the last 100 ms, after the last attempt the wait may send.
      await Bun.sleep(950);
      let received = 0;
      // A slow responder: had it received an attempt this late, it would apply it after the caller timed out.
      const sub = responderBus.subscribe(subject, (m) => {
        received++;
        setTimeout(() => m.respond(encodeJson({ applied: true })), 200);
      });
      await responderBus.flush();
      const err = await pending;
      expect(err).toBeInstanceOf(NoRespondersError);
      expect(received).toBe(0);
      sub.unsubscribe();
    } finally {
      await close();
    }
  });
});
