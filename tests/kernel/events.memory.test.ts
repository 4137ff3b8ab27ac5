import { afterEach, describe, expect, test } from "bun:test";
import { encodeJson, encodeText } from "../../src/kernel/bus/codec.ts";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import type { Bus } from "../../src/kernel/bus/types.ts";
import { createMemoryEventStream } from "../../src/kernel/events/memory.ts";
import { consumerName } from "../../src/kernel/events/shared.ts";
import type { LogSink } from "../../src/kernel/logger.ts";
import { EVENT_ID_HEADER, type EventMsg } from "../../src/kernel/events/types.ts";

import { eventsContract } from "../contract/events.contract.ts";
import { eventually } from "../helpers/eventually.ts";

// Memory event streams over separate memory buses are isolated, so every instance within one test
// shares one bus (the contract's two-instance rule); cleanup closes that instance's stream and the bus.
let shared: Bus | undefined;
afterEach(() => {
  shared = undefined;
});
eventsContract("memory", async () => {
  const bus = (shared ??= createMemoryBus());
  const events = createMemoryEventStream(bus);
  return {
    events,
    bus,
    durableBeforeConsume: false,
    async cleanup() {
      await events.close();
      await bus.close();
    },
  };
});

function memoryLogger(): LogSink & { lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> } {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = [];
  const at = (level: string) => (obj: object, msg: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { lines, info: at("info"), warn: at("warn"), error: at("error") };
}

describe("memory events specifics", () => {
  const buses: Bus[] = [];
  const make = (): Bus => {
    const bus = createMemoryBus();
    buses.push(bus);
    return bus;
  };
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((b) => b.close()));
  });

  test("kind is memory; the consumer's queue is the per-subject durable", async () => {
    const events = createMemoryEventStream(make());
    expect(events.kind).toBe("memory");
    const sub = await events.consume("order.created", async () => {}, { durable: "catalog" });
    expect(sub.queue).toBe("catalog__order_created");
    expect(consumerName("catalog", "order.*")).toBe("catalog__order_STAR");
    expect(consumerName("a.b", "x.>")).toBe("a_b__x_GT");
  });

  test("a plain bus publish (no id header) is consumed with a generated id, stable across redeliveries", async () => {
    const bus = make();
    const events = createMemoryEventStream(bus);
    const seen: EventMsg[] = [];
    await events.consume(
      "plain.evt",
      async (msg) => {
        seen.push(msg);
        if (msg.deliveryCount === 1) throw new Error("once");
      },
      { durable: "d", retryDelayMs: 10 },
    );
    bus.publish("plain.evt", encodeJson({ a: 1 }));
    await eventually("redelivery", () => seen.length === 2);
    expect(seen[0]!.eventId).toStartWith("mem-");
    expect(seen[1]!.eventId).toBe(seen[0]!.eventId);
    expect(seen[0]!.headers[EVENT_ID_HEADER]).toBeUndefined();
  });

  test("a caller's own id header is replaced by eventId", async () => {
    const bus = make();
    const events = createMemoryEventStream(bus);
    await events.declare("m", ["h.x"]);
    const seen: EventMsg[] = [];
    await events.consume("h.x", async (m) => void seen.push(m), { durable: "d" });
    await events.publish("h.x", encodeText("1"), { eventId: "real", headers: { "nats-msg-id": "fake", other: "o" } });
    await eventually("delivery", () => seen.length === 1);
    expect(seen[0]!.headers).toEqual({ [EVENT_ID_HEADER]: "real", other: "o" });
  });

  test("failures are logged; the last one says given up; close drops pending redeliveries (logged)", async () => {
    const log = memoryLogger();
    const bus = make();
    const events = createMemoryEventStream(bus, { logger: log });
    await events.declare("m", ["log.a", "log.b"]);
    let aCalls = 0;
    await events.consume(
      "log.a",
      async () => {
        aCalls++;
        throw new Error("boom");
      },
      { durable: "d", maxDeliver: 2, retryDelayMs: 5 },
    );
    await events.consume(
      "log.b",
      async () => {
        throw new Error("slow retry");
      },
      { durable: "d", retryDelayMs: 60_000 },
    );
    await events.publish("log.a", encodeText("a"), { eventId: "ea" });
    await events.publish("log.b", encodeText("b"), { eventId: "eb" });
    await eventually("failures", () => aCalls === 2 && log.lines.some((l) => l.obj.eventId === "eb"));
    const given = log.lines.filter((l) => l.msg.includes("given up"));
    expect(given.length).toBe(1);
    expect(given[0]!.level).toBe("error");
    expect(given[0]!.obj.eventId).toBe("ea");
    const started = performance.now();
    await events.close();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(log.lines.some((l) => l.msg.includes("dropped") && l.obj.dropped === 1)).toBe(true);
  });

  test("unsubscribe stops delivery and redeliveries", async () => {
    const bus = make();
    const events = createMemoryEventStream(bus);
    await events.declare("m", ["u.x"]);
    let calls = 0;
    const sub = await events.consume(
      "u.x",
      async () => {
        calls++;
        throw new Error("retry me");
      },
      { durable: "d", retryDelayMs: 20 },
    );
    await events.publish("u.x", encodeText("1"), { eventId: "u1" });
    await eventually("first delivery", () => calls === 1);
    sub.unsubscribe();
    await events.publish("u.x", encodeText("2"), { eventId: "u2" });
    await Bun.sleep(80); // a window in which the unsubscribed handler must NOT run
    expect(calls).toBe(1);
  });
});
