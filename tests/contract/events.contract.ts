/**
 * The durable-events contract: one `bun:test` suite every {@link EventStream} transport must pass
 * (memory, JetStream). Semantics: src/kernel/events/types.ts.
 *
 * Rules the suite follows so it runs unchanged on both transports:
 * - every test opens its "instances" through the factory; calling it twice in one test gives a
 *   second instance of the SAME world (JetStream: a new connection to the same server; memory: a
 *   new event stream over the same bus — reset the shared bus in an outer `afterEach`). Each
 *   instance's `cleanup` runs in `afterEach`;
 * - each test declares its own module and subjects under a random prefix, so runs sharing a
 *   server never collide (stream names included);
 * - capabilities only one transport has are flags on the factory result, and the test asserts
 *   them only when the flag is set (`durableBeforeConsume`);
 * - waits poll with a deadline; "no more deliveries" is checked after a short settle wait, since
 *   events have no per-publisher ordering guarantee across redeliveries.
 */

import { afterEach, describe, expect, test } from "bun:test";
import { EMPTY, encodeJson, encodeText } from "../../src/kernel/bus/codec.ts";
import { BusClosedError, EventPublishError, InvalidSubjectError } from "../../src/kernel/bus/errors.ts";
import type { Bus, Msg } from "../../src/kernel/bus/types.ts";
import { EVENT_ID_HEADER, type EventMsg, type EventStream } from "../../src/kernel/events/types.ts";
import { eventually } from "../helpers/eventually.ts";

/** One instance of an events world, as the factory returns it. */
export interface EventsInstance {
  events: EventStream;
  /** A core bus client of the same world (sees events as plain messages). */
  bus: Bus;
  /** True when events published before any `consume` are delivered to a consumer created later. */
  durableBeforeConsume: boolean;
  /** Closes the events and the bus of this instance. */
  cleanup(): Promise<void>;
}

export type EventsFactory = () => Promise<EventsInstance>;

function token(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 10);
}

/** Settles to the value or the error, so a rejection is never "unhandled" while a test awaits something else. */
function settle<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** A handler recording every delivery (JetStream consumers may attach a moment after `consume` resolves). */
function recorder(): { got: EventMsg[]; handler: (msg: EventMsg) => Promise<void> } {
  const got: EventMsg[] = [];
  return { got, handler: async (msg) => void got.push(msg) };
}

/**
 * Defines the contract suite for one transport.
 * @param name transport label used in the `describe` title, e.g. `"memory"`.
 * @param factory returns an instance per call (see the module comment for the two-instance rule).
 */
export function eventsContract(name: string, factory: EventsFactory): void {
  describe(`events contract: ${name}`, () => {
    const opened: EventsInstance[] = [];
    let p = "";
    let module = "";

    async function open(): Promise<EventsInstance> {
      if (p === "") {
        const t = token();
        p = `ev${t}`;
        module = `mod${t}`;
      }
      const instance = await factory();
      opened.push(instance);
      return instance;
    }

    afterEach(async () => {
      const all = opened.splice(0);
      p = "";
      module = "";
      await Promise.all(all.map((i) => i.cleanup()));
    });

    test("publish → consume round trip with payload, headers, eventId and deliveryCount 1", async () => {
      const w = await open();
      await w.events.declare(module, [`${p}.created`]);
      const r = recorder();
      const sub = await w.events.consume(`${p}.created`, r.handler, { durable: "reader" });
      expect(sub.subject).toBe(`${p}.created`);
      const eventId = `id-${token()}`;
      await w.events.publish(`${p}.created`, encodeJson({ n: 1 }), { eventId, headers: { "x-tenant": "t1" } });
      await eventually("delivery", () => r.got.length === 1, { timeoutMs: 5000 });
      const msg = r.got[0]!;
      expect(msg.subject).toBe(`${p}.created`);
      expect(msg.json<{ n: number }>()).toEqual({ n: 1 });
      expect(msg.eventId).toBe(eventId);
      expect(msg.deliveryCount).toBe(1);
      expect(msg.headers["x-tenant"]).toBe("t1");
      expect(msg.headers[EVENT_ID_HEADER]).toBe(eventId);
    });

    test("declare is idempotent and accepts wildcard subjects", async () => {
      const w = await open();
      await w.events.declare(module, [`${p}.a`, `${p}.b.*`]);
      await w.events.declare(module, [`${p}.a`, `${p}.b.*`]);
      const r = recorder();
      await w.events.consume(`${p}.b.*`, r.handler, { durable: "wild" });
      await w.events.publish(`${p}.b.x`, encodeText("x"), { eventId: token() });
      await eventually("delivery", () => r.got.length === 1, { timeoutMs: 5000 });
      expect(r.got[0]!.subject).toBe(`${p}.b.x`);
    });

    test("two consumers with the same durable share the events: each is handled once across them", async () => {
      const a = await open();
      const b = await open();
      await a.events.declare(module, [`${p}.shared`]);
      const ra = recorder();
      const rb = recorder();
      await a.events.consume(`${p}.shared`, ra.handler, { durable: "workers" });
      await b.events.consume(`${p}.shared`, rb.handler, { durable: "workers" });
      const n = 20;
      for (let i = 0; i < n; i++) await a.events.publish(`${p}.shared`, encodeText(String(i)), { eventId: `e${i}-${token()}` });
      const all = (): EventMsg[] => [...ra.got, ...rb.got];
      await eventually(`${n} deliveries`, () => all().length >= n, { timeoutMs: 5000 });
      await Bun.sleep(150); // a window in which no event may be handled a second time
      expect(all().length).toBe(n);
      expect(new Set(all().map((m) => m.eventId)).size).toBe(n);
    });

    test("two different durables each get every event", async () => {
      const w = await open();
      await w.events.declare(module, [`${p}.fan`]);
      const r1 = recorder();
      const r2 = recorder();
      await w.events.consume(`${p}.fan`, r1.handler, { durable: "one" });
      await w.events.consume(`${p}.fan`, r2.handler, { durable: "two" });
      const n = 10;
      for (let i = 0; i < n; i++) await w.events.publish(`${p}.fan`, encodeText(String(i)), { eventId: `f${i}-${token()}` });
      await eventually("both durables", () => r1.got.length >= n && r2.got.length >= n, { timeoutMs: 5000 });
      await Bun.sleep(100); // a window in which no extra delivery may follow
      expect(r1.got.length).toBe(n);
      expect(r2.got.length).toBe(n);
      expect(new Set(r1.got.map((m) => new TextDecoder().decode(m.data))).size).toBe(n);
      expect(new Set(r2.got.map((m) => new TextDecoder().decode(m.data))).size).toBe(n);
    });

    test("a rejecting handler gets the event again after retryDelayMs, with deliveryCount 2", async () => {
      const w = await open();
      await w.events.declare(module, [`${p}.retry`]);
      const seen: Array<{ count: number; id: string; at: number }> = [];
      await w.events.consume(
        `${p}.retry`,
        async (msg) => {
          seen.push({ count: msg.deliveryCount, id: msg.eventId, at: performance.now() });
          if (msg.deliveryCount === 1) throw new Error("transient failure");
        },
        { durable: "retrier", retryDelayMs: 100 },
      );
      const eventId = `r-${token()}`;
      await w.events.publish(`${p}.retry`, encodeText("again"), { eventId });
      await eventually("redelivery", () => seen.length === 2, { timeoutMs: 5000 });
      expect(seen.map((s) => s.count)).toEqual([1, 2]);
      expect(seen.every((s) => s.id === eventId)).toBe(true);
      expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(80);
      await Bun.sleep(250); // a window in which no third delivery may follow
      expect(seen.length).toBe(2);
    });

    test("a redelivery carries the original payload even if the handler mutated its copy", async () => {
      const w = await open();
      await w.events.declare(module, [`${p}.mut`]);
      const texts: string[] = [];
      await w.events.consume(
        `${p}.mut`,
        async (msg) => {
          texts.push(new TextDecoder().decode(msg.data));
          msg.data[0] = 0x58; // "X"
          msg.headers["x-k"] = "mutated";
          if (msg.deliveryCount === 1) throw new Error("fail once");
        },
        { durable: "mutator", retryDelayMs: 50 },
      );
      await w.events.publish(`${p}.mut`, encodeText("abc"), { eventId: token(), headers: { "x-k": "v" } });
      await eventually("redelivery", () => texts.length === 2, { timeoutMs: 5000 });
      expect(texts).toEqual(["abc", "abc"]);
    });

    test("a handler failing on every delivery is given up after maxDeliver", async () => {
      const w = await open();
      await w.events.declare(module, [`${p}.poison`]);
      let calls = 0;
      await w.events.consume(
        `${p}.poison`,
        async () => {
          calls++;
          throw new Error("always");
        },
        { durable: "poisoned", maxDeliver: 2, retryDelayMs: 50 },
      );
      await w.events.publish(`${p}.poison`, encodeText("bad"), { eventId: token() });
      await eventually("two deliveries", () => calls === 2, { timeoutMs: 5000 });
      await Bun.sleep(300); // a window in which no delivery beyond maxDeliver may follow
      expect(calls).toBe(2);
    });

    test("a core bus subscriber on the subject sees the event as a plain message", async () => {
      const w = await open();
      await w.events.declare(module, [`${p}.plain`]);
      const got: Msg[] = [];
      w.bus.subscribe(`${p}.plain`, (msg) => void got.push(msg));
      await w.bus.flush();
      const eventId = `pl-${token()}`;
      await w.events.publish(`${p}.plain`, encodeJson({ ok: true }), { eventId, headers: { "x-req": "q1" } });
      await eventually("core delivery", () => got.length === 1, { timeoutMs: 5000 });
      expect(got[0]!.json<{ ok: boolean }>()).toEqual({ ok: true });
      expect(got[0]!.headers[EVENT_ID_HEADER]).toBe(eventId);
      expect(got[0]!.headers["x-req"]).toBe("q1");
    });

    test("events published before consume was called reach it when the transport is durable", async () => {
      const w = await open();
      await w.events.declare(module, [`${p}.early`]);
      for (let i = 0; i < 3; i++) await w.events.publish(`${p}.early`, encodeText(String(i)), { eventId: `early${i}-${token()}` });
      const r = recorder();
      await w.events.consume(`${p}.early`, r.handler, { durable: "latecomer" });
      if (!w.durableBeforeConsume) return; // memory: nobody was listening, nothing to assert
      await eventually("stored events", () => r.got.length === 3, { timeoutMs: 5000 });
      expect(r.got.map((m) => new TextDecoder().decode(m.data)).sort()).toEqual(["0", "1", "2"]);
    });

    test("consume before the publisher declared its stream resolves, and gets events published after", async () => {
      const consumer = await open();
      const publisher = await open();
      const r = recorder();
      const sub = await consumer.events.consume(`${p}.later`, r.handler, { durable: "eager" });
      expect(sub.subject).toBe(`${p}.later`);
      await publisher.events.declare(module, [`${p}.later`]);
      await publisher.events.publish(`${p}.later`, encodeText("first"), { eventId: token() });
      await eventually("delivery after a late declare", () => r.got.length === 1, { timeoutMs: 5000 });
      expect(new TextDecoder().decode(r.got[0]!.data)).toBe("first");
    });

    test("publishing on a subject no module declared rejects with EventPublishError", async () => {
      const w = await open();
      const r = await settle(w.events.publish(`${p}.undeclared`, EMPTY, { eventId: token() }));
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error).toBeInstanceOf(EventPublishError);
        expect((r.error as EventPublishError).reason).toBe("no_stream");
        expect((r.error as EventPublishError).code).toBe("EVENT_PUBLISH_FAILED");
      }
    });

    test("invalid arguments are rejected with typed errors", async () => {
      const w = await open();
      await w.events.declare(module, [`${p}.args`]);
      expect((await settle(w.events.declare(module, ["bad..subject"]))).ok).toBe(false);
      const badSubject = await settle(w.events.consume("a..b", async () => {}, { durable: "d" }));
      expect(!badSubject.ok && badSubject.error).toBeInstanceOf(InvalidSubjectError);
      const noDurable = await settle(w.events.consume(`${p}.args`, async () => {}, { durable: "" }));
      expect(!noDurable.ok && noDurable.error).toBeInstanceOf(RangeError);
      const badMax = await settle(w.events.consume(`${p}.args`, async () => {}, { durable: "d", maxDeliver: 0 }));
      expect(!badMax.ok && badMax.error).toBeInstanceOf(RangeError);
      const wildPublish = await settle(w.events.publish(`${p}.*`, EMPTY, { eventId: token() }));
      expect(!wildPublish.ok && wildPublish.error).toBeInstanceOf(InvalidSubjectError);
      const noId = await settle(w.events.publish(`${p}.args`, EMPTY, { eventId: "" }));
      expect(!noId.ok && noId.error).toBeInstanceOf(RangeError);
    });

    test("subscription drain waits for a running handler, then stops delivery", async () => {
      const w = await open();
      await w.events.declare(module, [`${p}.drain`]);
      const gate = Promise.withResolvers<void>();
      let started = 0;
      let finished = 0;
      const sub = await w.events.consume(
        `${p}.drain`,
        async () => {
          started++;
          await gate.promise;
          finished++;
        },
        { durable: "drainer" },
      );
      await w.events.publish(`${p}.drain`, encodeText("1"), { eventId: token() });
      await eventually("handler start", () => started === 1, { timeoutMs: 5000 });
      let drained = false;
      const draining = sub.drain().then(() => {
        drained = true;
      });
      await Bun.sleep(30); // a window in which drain must NOT finish while the handler runs
      expect(drained).toBe(false);
      gate.resolve();
      await draining;
      expect(finished).toBe(1);
      await w.events.publish(`${p}.drain`, encodeText("2"), { eventId: token() });
      await Bun.sleep(150); // a window in which the drained subscription must NOT get the event
      expect(started).toBe(1);
    });

    test("close waits for running handlers; afterwards publish and consume reject with BusClosedError", async () => {
      const w = await open();
      await w.events.declare(module, [`${p}.close`]);
      const gate = Promise.withResolvers<void>();
      let started = false;
      let finished = false;
      await w.events.consume(
        `${p}.close`,
        async () => {
          started = true;
          await gate.promise;
          finished = true;
        },
        { durable: "closer" },
      );
      await w.events.publish(`${p}.close`, EMPTY, { eventId: token() });
      await eventually("handler start", () => started, { timeoutMs: 5000 });
      const closing = w.events.close();
      await Bun.sleep(20); // a window in which close must NOT finish the running handler
      expect(finished).toBe(false);
      gate.resolve();
      await closing;
      expect(finished).toBe(true);
      const pub = await settle(w.events.publish(`${p}.close`, EMPTY, { eventId: token() }));
      expect(!pub.ok && pub.error).toBeInstanceOf(BusClosedError);
      const con = await settle(w.events.consume(`${p}.close`, async () => {}, { durable: "x" }));
      expect(!con.ok && con.error).toBeInstanceOf(BusClosedError);
      expect(w.bus.closed).toBe(false);
    });

    test("kind names the transport", async () => {
      const w = await open();
      expect(typeof w.events.kind).toBe("string");
      expect(w.events.kind.length).toBeGreaterThan(0);
    });
  });
}
