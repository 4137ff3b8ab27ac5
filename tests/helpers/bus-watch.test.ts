import { describe, expect, test } from "bun:test";
import { encodeText } from "../../src/kernel/bus/codec.ts";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { watchSubscriptions } from "./bus-watch.ts";
import { eventually } from "./eventually.ts";

describe("watchSubscriptions", () => {
  test("counts live subscriptions per exact subject; unsubscribe and drain count down once", async () => {
    const bus = watchSubscriptions(createMemoryBus());
    expect(bus.subscriptionsTo("a.b")).toBe(0);
    const one = bus.subscribe("a.b", () => {});
    const two = bus.subscribe("a.b", () => {}, { queue: "q" });
    bus.subscribe("a.*", () => {});
    expect(bus.subscriptionsTo("a.b")).toBe(2);
    expect(bus.subscriptionsTo("a.*")).toBe(1);
    expect(two.queue).toBe("q");
    expect(one.subject).toBe("a.b");
    one.unsubscribe();
    one.unsubscribe();
    expect(bus.subscriptionsTo("a.b")).toBe(1);
    await two.drain();
    expect(bus.subscriptionsTo("a.b")).toBe(0);
    await bus.close();
  });

  test("is the bus itself otherwise: deliveries, requests and closed go through unchanged", async () => {
    const inner = createMemoryBus();
    const bus = watchSubscriptions(inner);
    const got: string[] = [];
    bus.subscribe("x", (m) => void got.push(m.string()));
    bus.subscribe("echo", (m) => void m.respond(m.data));
    bus.publish("x", encodeText("hello"));
    await eventually("the delivery", () => got.length === 1);
    expect(got).toEqual(["hello"]);
    expect((await bus.request("echo", encodeText("ping"), { timeoutMs: 1000 })).string()).toBe("ping");
    expect(bus.transport).toBe(inner.transport);
    expect(bus.closed).toBe(false);
    await bus.close();
    expect(inner.closed).toBe(true);
    expect(bus.closed).toBe(true);
  });
});
