/**
 * The bus contract: one `bun:test` suite every {@link Bus} transport must pass (memory now, NATS
 * against a real nats-server later). Semantics are core NATS
 * (https://docs.nats.io/nats-concepts/core-nats); see src/kernel/bus/types.ts.
 *
 * Rules the suite follows so it runs unchanged on both transports:
 * - every test opens its bus(es) through the factory and they are closed in `afterEach`;
 * - tests needing two clients call the factory twice. On NATS each call must be a new connection
 *   to the same server; on memory the factory must return the SAME bus for every call within one
 *   test (reset it in an outer `afterEach`), because separate memory buses are isolated;
 * - a client's subscriptions are `flush`ed before another client publishes to them (on NATS a
 *   SUB only takes effect once the server has read it);
 * - subjects are prefixed with a random token per test, so runs sharing a server never collide;
 * - waits poll with a deadline instead of sleeping, and "not delivered" is proved with a later
 *   sentinel message from the same publisher (per-publisher ordering makes it conclusive).
 */

import { afterEach, describe, expect, test } from "bun:test";
import { EMPTY, encodeJson, encodeText, jsonPayload } from "../../src/kernel/bus/codec.ts";
import { BusClosedError, BusTimeoutError, InvalidSubjectError, NoRespondersError } from "../../src/kernel/bus/errors.ts";
import type { Bus, BusFactory, Msg, MsgHandler, Subscription } from "../../src/kernel/bus/types.ts";
import { eventually } from "../helpers/eventually.ts";

/** Settles to the value or the error, so a rejection is never "unhandled" while a test awaits something else. */
function settle<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

function uniquePrefix(): string {
  return `ct.${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

interface Collector {
  readonly msgs: Msg[];
  readonly sub: Subscription;
  /** Payloads decoded as text, in arrival order. */
  texts(): string[];
}

function collect(bus: Bus, subject: string, queue?: string): Collector {
  const msgs: Msg[] = [];
  const handler: MsgHandler = (msg) => {
    msgs.push(msg);
  };
  const sub = bus.subscribe(subject, handler, queue === undefined ? undefined : { queue });
  return { msgs, sub, texts: () => msgs.map((m) => m.string()) };
}

/**
 * Defines the contract suite for one transport.
 * @param name transport label used in the `describe` title, e.g. `"memory"`.
 * @param factory returns a connected bus per call (see the module comment for the two-client rule).
 */
export function busContract(name: string, factory: BusFactory): void {
  describe(`bus contract: ${name}`, () => {
    const opened = new Set<Bus>();
    let p = "";

    async function open(): Promise<Bus> {
      if (p === "") p = uniquePrefix();
      const bus = await factory();
      opened.add(bus);
      return bus;
    }

    afterEach(async () => {
      const buses = [...opened];
      opened.clear();
      p = "";
      await Promise.all(buses.map((bus) => bus.close()));
    });

    describe("publish/subscribe", () => {
      test("delivers payload, subject and headers", async () => {
        const bus = await open();
        const got = collect(bus, `${p}.hello`);
        await bus.flush();
        bus.publish(`${p}.hello`, encodeText("world"), { headers: { "x-trace": "t1", "x-two": "2" } });
        await eventually("delivery", () => got.msgs.length === 1);
        const msg = got.msgs[0]!;
        expect(msg.subject).toBe(`${p}.hello`);
        expect(msg.string()).toBe("world");
        expect(msg.headers).toEqual({ "x-trace": "t1", "x-two": "2" });
        expect(msg.reply).toBeUndefined();
        expect(msg.respond(encodeText("nobody asked"))).toBe(false);
      });

      test("without data delivers an empty payload and empty headers", async () => {
        const bus = await open();
        const got = collect(bus, `${p}.empty`);
        await bus.flush();
        bus.publish(`${p}.empty`);
        await eventually("delivery", () => got.msgs.length === 1);
        const msg = got.msgs[0]!;
        expect(msg.data).toBeInstanceOf(Uint8Array);
        expect(msg.data.length).toBe(0);
        expect(msg.headers).toEqual({});
        expect(msg.string()).toBe("");
      });

      test("json() decodes JSON payloads and throws SyntaxError on invalid JSON", async () => {
        const bus = await open();
        const got = collect(bus, `${p}.json`);
        await bus.flush();
        bus.publish(`${p}.json`, encodeJson({ a: 1, b: ["x"] }));
        bus.publish(`${p}.json`, encodeText("{not json"));
        await eventually("2 deliveries", () => got.msgs.length === 2);
        expect(got.msgs[0]!.json<{ a: number; b: string[] }>()).toEqual({ a: 1, b: ["x"] });
        expect(() => got.msgs[1]!.json()).toThrow(SyntaxError);
      });

      test("never runs a subscriber on the publisher's stack", async () => {
        const bus = await open();
        let publishing = false;
        let ranDuringPublish = false;
        let count = 0;
        bus.subscribe(`${p}.async`, () => {
          count++;
          if (publishing) ranDuringPublish = true;
        });
        await bus.flush();
        publishing = true;
        bus.publish(`${p}.async`);
        publishing = false;
        expect(count).toBe(0);
        await eventually("delivery", () => count === 1);
        expect(ranDuringPublish).toBe(false);
      });

      test("payload and headers are copies: neither side can mutate the other's", async () => {
        const bus = await open();
        const got = collect(bus, `${p}.copy`);
        await bus.flush();
        const data = encodeText("abc");
        const headers: Record<string, string> = { k: "v" };
        bus.publish(`${p}.copy`, data, { headers });
        data[0] = 0x78;
        headers.k = "changed-by-sender";
        await eventually("delivery", () => got.msgs.length === 1);
        const msg = got.msgs[0]!;
        expect(msg.string()).toBe("abc");
        expect(msg.headers).toEqual({ k: "v" });
        msg.headers.k = "changed-by-receiver";
        expect(headers).toEqual({ k: "changed-by-sender" });
      });

      test("preserves order from one publisher to one subscriber", async () => {
        const bus = await open();
        const got = collect(bus, `${p}.order`);
        await bus.flush();
        const n = 1000;
        for (let i = 0; i < n; i++) bus.publish(`${p}.order`, encodeText(String(i)));
        await eventually(`${n} deliveries`, () => got.msgs.length === n);
        expect(got.texts()).toEqual(Array.from({ length: n }, (_, i) => String(i)));
      });

      test("delivers between two clients", async () => {
        const a = await open();
        const b = await open();
        const got = collect(a, `${p}.cross`);
        await a.flush();
        b.publish(`${p}.cross`, encodeText("from b"));
        await eventually("delivery", () => got.msgs.length === 1);
        expect(got.msgs[0]!.string()).toBe("from b");
      });

      test("subscription exposes its subject and queue", async () => {
        const bus = await open();
        const plain = bus.subscribe(`${p}.s`, () => {});
        const grouped = bus.subscribe(`${p}.s`, () => {}, { queue: "workers" });
        expect(plain.subject).toBe(`${p}.s`);
        expect(plain.queue).toBeUndefined();
        expect(grouped.subject).toBe(`${p}.s`);
        expect(grouped.queue).toBe("workers");
      });
    });

    describe("subjects and wildcards", () => {
      test("`*` matches exactly one token", async () => {
        const bus = await open();
        const got = collect(bus, `${p}.a.*.c`);
        await bus.flush();
        for (const s of ["a.b.c", "a.b.d", "a.b.x.c", "a.c", "a.b", "b.b.c", "a.b.c.d", "a.zz.c"]) {
          bus.publish(`${p}.${s}`, encodeText(s));
        }
        await eventually("sentinel", () => got.texts().at(-1) === "a.zz.c");
        expect(got.texts()).toEqual(["a.b.c", "a.zz.c"]);
        expect(got.msgs[0]!.subject).toBe(`${p}.a.b.c`);
      });

      test("`>` matches one or more trailing tokens", async () => {
        const bus = await open();
        const got = collect(bus, `${p}.a.>`);
        await bus.flush();
        for (const s of ["a", "a.b", "b.a", "a.b.c", "ab.c", "a.b.c.d.e"]) {
          bus.publish(`${p}.${s}`, encodeText(s));
        }
        await eventually("sentinel", () => got.texts().at(-1) === "a.b.c.d.e");
        expect(got.texts()).toEqual(["a.b", "a.b.c", "a.b.c.d.e"]);
      });

      test("wildcards combine: `*` before `>`", async () => {
        const bus = await open();
        const got = collect(bus, `${p}.*.x.>`);
        await bus.flush();
        for (const s of ["a.x", "a.x.1", "a.y.1", "a.b.x.1", "b.x.1.2"]) {
          bus.publish(`${p}.${s}`, encodeText(s));
        }
        await eventually("sentinel", () => got.texts().at(-1) === "b.x.1.2");
        expect(got.texts()).toEqual(["a.x.1", "b.x.1.2"]);
      });

      test("a subject matching several subscriptions reaches each of them once", async () => {
        const bus = await open();
        const exact = collect(bus, `${p}.m.n`);
        const star = collect(bus, `${p}.m.*`);
        const gt = collect(bus, `${p}.>`);
        await bus.flush();
        bus.publish(`${p}.m.n`, encodeText("1"));
        bus.publish(`${p}.m.n`, encodeText("2"));
        await eventually("deliveries to all three", () => exact.msgs.length >= 2 && star.msgs.length >= 2 && gt.msgs.length >= 2);
        await bus.flush();
        expect(exact.texts()).toEqual(["1", "2"]);
        expect(star.texts()).toEqual(["1", "2"]);
        expect(gt.texts()).toEqual(["1", "2"]);
      });

      test("rejects invalid publish subjects with InvalidSubjectError", async () => {
        const bus = await open();
        for (const bad of ["", "a.*", "a.>", ">", "*", "a..b", ".a", "a.", "a b", "a\tb", "a\nb"]) {
          expect(() => bus.publish(bad), JSON.stringify(bad)).toThrow(InvalidSubjectError);
        }
        expect(() => bus.publish(`${p}.ok`, EMPTY, { reply: "bad.*" })).toThrow(InvalidSubjectError);
        const r = await settle(bus.request("a.*"));
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.error).toBeInstanceOf(InvalidSubjectError);
      });

      test("rejects invalid subscription patterns with InvalidSubjectError", async () => {
        const bus = await open();
        for (const bad of ["", "a.>.b", ">.a", "a..b", ".a", "a.", "a b", "a.*.\tc"]) {
          expect(() => bus.subscribe(bad, () => {}), JSON.stringify(bad)).toThrow(InvalidSubjectError);
        }
        for (const good of [">", "*", "a.*", "*.b.>", "a.b"]) {
          expect(() => bus.subscribe(`${p}.${good}`, () => {})).not.toThrow();
        }
      });
    });

    describe("queue groups", () => {
      test("each message reaches exactly one group member; plain subscribers get all", async () => {
        const c1 = await open();
        const c2 = await open();
        const pub = await open();
        const a = collect(c1, `${p}.q`, "g");
        const b = collect(c2, `${p}.q`, "g");
        const all = collect(c1, `${p}.q`);
        await c1.flush();
        await c2.flush();
        const n = 100;
        for (let i = 0; i < n; i++) pub.publish(`${p}.q`, encodeText(String(i)));
        await eventually("all deliveries", () => all.msgs.length === n && a.msgs.length + b.msgs.length >= n);
        await c1.flush();
        await c2.flush();
        const groupSeen = [...a.texts(), ...b.texts()];
        expect(groupSeen.length).toBe(n);
        expect(new Set(groupSeen).size).toBe(n);
        expect(a.msgs.length).toBeGreaterThan(0);
        expect(b.msgs.length).toBeGreaterThan(0);
        expect(all.texts()).toEqual(Array.from({ length: n }, (_, i) => String(i)));
      });

      test("two different queue groups each get every message", async () => {
        const bus = await open();
        const g1a = collect(bus, `${p}.q2`, "g1");
        const g1b = collect(bus, `${p}.q2`, "g1");
        const g2a = collect(bus, `${p}.q2`, "g2");
        // Group membership is by queue name, whatever pattern each member subscribed with.
        const g2b = collect(bus, `${p}.*`, "g2");
        await bus.flush();
        const n = 50;
        for (let i = 0; i < n; i++) bus.publish(`${p}.q2`, encodeText(String(i)));
        const g1 = (): string[] => [...g1a.texts(), ...g1b.texts()];
        const g2 = (): string[] => [...g2a.texts(), ...g2b.texts()];
        await eventually("both groups", () => g1().length >= n && g2().length >= n);
        await bus.flush();
        expect(g1().length).toBe(n);
        expect(new Set(g1()).size).toBe(n);
        expect(g2().length).toBe(n);
        expect(new Set(g2()).size).toBe(n);
      });

      test("a request to a queue group is handled by one member only", async () => {
        const bus = await open();
        let handled = 0;
        for (let i = 0; i < 3; i++) {
          bus.subscribe(
            `${p}.svc`,
            (msg) => {
              handled++;
              msg.respond(encodeText(String(i)));
            },
            { queue: "svc" },
          );
        }
        await bus.flush();
        for (let i = 0; i < 10; i++) await bus.request(`${p}.svc`, EMPTY, { timeoutMs: 2000 });
        expect(handled).toBe(10);
      });
    });

    describe("request/reply", () => {
      test("round trip between two clients, with headers both ways", async () => {
        const server = await open();
        const client = await open();
        let seen: Msg | undefined;
        server.subscribe(`${p}.echo`, (msg) => {
          seen = msg;
          msg.respond(encodeJson({ echo: msg.json<{ q: number }>().q }), { headers: { "x-reply": "yes" } });
        });
        await server.flush();
        const reply = await client.request(`${p}.echo`, encodeJson({ q: 42 }), {
          headers: { "x-request": "r1" },
          timeoutMs: 2000,
        });
        expect(reply.json<{ echo: number }>()).toEqual({ echo: 42 });
        expect(reply.headers["x-reply"]).toBe("yes");
        expect(seen?.headers["x-request"]).toBe("r1");
        expect(seen?.subject).toBe(`${p}.echo`);
        expect(seen?.reply).toStartWith("_INBOX.");
      });

      test("JSON payloads (jsonPayload) go both ways; their bytes are the JSON encoding", async () => {
        const server = await open();
        const client = await open();
        let request: { representations: { id: string }[] } | undefined;
        let requestBytes = "";
        server.subscribe(`${p}.jsonp`, (msg) => {
          request = msg.json();
          requestBytes = msg.string();
          msg.respond(jsonPayload({ data: { n: request?.representations.length, nested: [{ a: null }] } }));
        });
        await server.flush();
        const sent = { representations: [{ id: "1" }, { id: "2" }] };
        const reply = await client.request(`${p}.jsonp`, jsonPayload(sent), { timeoutMs: 2000 });
        expect(request).toEqual(sent);
        expect(requestBytes).toBe(JSON.stringify(sent));
        expect(reply.json<unknown>()).toEqual({ data: { n: 2, nested: [{ a: null }] } });
        expect(reply.string()).toBe(JSON.stringify({ data: { n: 2, nested: [{ a: null }] } }));
      });

      test("a JSON payload published to several subscribers gives each its own copy", async () => {
        const bus = await open();
        const a = collect(bus, `${p}.jsonfan`);
        const b = collect(bus, `${p}.jsonfan`);
        await bus.flush();
        bus.publish(`${p}.jsonfan`, jsonPayload({ list: [1, 2] }));
        await eventually("fan-out", () => a.msgs.length === 1 && b.msgs.length === 1);
        const first = a.msgs[0]!.json<{ list: number[] }>();
        first.list.push(3);
        expect(b.msgs[0]!.json<{ list: number[] }>()).toEqual({ list: [1, 2] });
      });

      test("each request gets its own inbox", async () => {
        const bus = await open();
        const inboxes: string[] = [];
        bus.subscribe(`${p}.inbox`, (msg) => {
          inboxes.push(msg.reply ?? "");
          msg.respond();
        });
        await bus.flush();
        await Promise.all([bus.request(`${p}.inbox`), bus.request(`${p}.inbox`), bus.request(`${p}.inbox`)]);
        expect(inboxes.length).toBe(3);
        expect(new Set(inboxes).size).toBe(3);
        for (const inbox of inboxes) expect(inbox).toStartWith("_INBOX.");
      });

      test("an async responder can reply later", async () => {
        const bus = await open();
        bus.subscribe(`${p}.later`, async (msg) => {
          await Bun.sleep(5);
          msg.respond(encodeText("done"));
        });
        await bus.flush();
        const reply = await bus.request(`${p}.later`, EMPTY, { timeoutMs: 2000 });
        expect(reply.string()).toBe("done");
      });

      test("rejects with NoRespondersError at once when nobody subscribes", async () => {
        const bus = await open();
        const started = performance.now();
        const r = await settle(bus.request(`${p}.nobody.home`, EMPTY, { timeoutMs: 3000 }));
        expect(performance.now() - started).toBeLessThan(1000);
        expect(r.ok).toBe(false);
        if (!r.ok) {
          expect(r.error).toBeInstanceOf(NoRespondersError);
          expect((r.error as NoRespondersError).code).toBe("NO_RESPONDERS");
        }
      });

      test("rejects with BusTimeoutError after timeoutMs when the responder never answers", async () => {
        const bus = await open();
        let asked = 0;
        bus.subscribe(`${p}.silent`, () => {
          asked++;
        });
        await bus.flush();
        const started = performance.now();
        const r = await settle(bus.request(`${p}.silent`, EMPTY, { timeoutMs: 100 }));
        const elapsed = performance.now() - started;
        expect(asked).toBe(1);
        expect(r.ok).toBe(false);
        if (!r.ok) {
          expect(r.error).toBeInstanceOf(BusTimeoutError);
          expect((r.error as BusTimeoutError).timeoutMs).toBe(100);
          expect((r.error as BusTimeoutError).subject).toBe(`${p}.silent`);
        }
        expect(elapsed).toBeGreaterThanOrEqual(90);
        expect(elapsed).toBeLessThan(1500);
      });

      test("500 concurrent requests are all answered correctly", async () => {
        const server = await open();
        const client = await open();
        server.subscribe(`${p}.double`, (msg) => {
          const { n } = msg.json<{ n: number }>();
          msg.respond(encodeJson({ n, doubled: n * 2 }));
        });
        await server.flush();
        const replies = await Promise.all(
          Array.from({ length: 500 }, (_, n) => client.request(`${p}.double`, encodeJson({ n }), { timeoutMs: 4000 })),
        );
        replies.forEach((reply, n) => {
          expect(reply.json<{ n: number; doubled: number }>()).toEqual({ n, doubled: n * 2 });
        });
      });
    });

    describe("unsubscribe and drain", () => {
      test("unsubscribe stops delivery, including messages published just before", async () => {
        const bus = await open();
        const gone = collect(bus, `${p}.u`);
        const stays = collect(bus, `${p}.u`);
        await bus.flush();
        bus.publish(`${p}.u`, encodeText("1"));
        await eventually("first delivery", () => gone.msgs.length === 1);
        bus.publish(`${p}.u`, encodeText("2"));
        gone.sub.unsubscribe();
        gone.sub.unsubscribe();
        bus.publish(`${p}.u`, encodeText("3"));
        await eventually("sentinel", () => stays.texts().at(-1) === "3");
        expect(gone.texts()).toEqual(["1"]);
        expect(stays.texts()).toEqual(["1", "2", "3"]);
      });

      test("subscription drain waits for an in-flight async handler, then stops delivery", async () => {
        const bus = await open();
        const gate = Promise.withResolvers<void>();
        let started = 0;
        let finished = 0;
        const sub = bus.subscribe(`${p}.d`, async () => {
          started++;
          await gate.promise;
          finished++;
        });
        const sentinel = collect(bus, `${p}.d`);
        await bus.flush();
        bus.publish(`${p}.d`);
        await eventually("handler start", () => started === 1);
        let drained = false;
        const draining = sub.drain().then(() => {
          drained = true;
        });
        await Bun.sleep(20); // a window in which drain must NOT finish while the handler runs
        expect(drained).toBe(false);
        gate.resolve();
        await draining;
        expect(finished).toBe(1);
        bus.publish(`${p}.d`, encodeText("after"));
        await eventually("sentinel", () => sentinel.texts().at(-1) === "after");
        expect(started).toBe(1);
      });

      test("bus drain waits for in-flight handlers, then rejects new work with BusClosedError", async () => {
        const bus = await open();
        const gate = Promise.withResolvers<void>();
        let started = false;
        let finished = false;
        bus.subscribe(`${p}.work`, async () => {
          started = true;
          await gate.promise;
          finished = true;
        });
        await bus.flush();
        bus.publish(`${p}.work`);
        await eventually("handler start", () => started);
        let drained = false;
        const draining = bus.drain().then(() => {
          drained = true;
        });
        expect(bus.closed).toBe(true);
        await Bun.sleep(20); // a window in which drain must NOT finish while the handler runs
        expect(drained).toBe(false);
        gate.resolve();
        await draining;
        expect(finished).toBe(true);
        expect(() => bus.publish(`${p}.work`)).toThrow(BusClosedError);
        expect(() => bus.subscribe(`${p}.work`, () => {})).toThrow(BusClosedError);
        const r = await settle(bus.request(`${p}.work`));
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.error).toBeInstanceOf(BusClosedError);
      });

      test("a handler running during drain can still reply", async () => {
        const server = await open();
        const client = await open();
        const gate = Promise.withResolvers<void>();
        let started = false;
        server.subscribe(`${p}.slow`, async (msg) => {
          started = true;
          await gate.promise;
          msg.respond(encodeText("late but here"));
        });
        await server.flush();
        const reply = settle(client.request(`${p}.slow`, EMPTY, { timeoutMs: 3000 }));
        await eventually("handler start", () => started);
        const draining = server.drain();
        gate.resolve();
        const r = await reply;
        await draining;
        expect(r.ok).toBe(true);
        if (r.ok) expect(r.value.string()).toBe("late but here");
      });
    });

    describe("errors and lifecycle", () => {
      test("a throwing handler (sync or async) breaks neither the bus nor the publisher", async () => {
        const bus = await open();
        let syncCalls = 0;
        let asyncCalls = 0;
        bus.subscribe(`${p}.boom`, () => {
          syncCalls++;
          throw new Error("sync boom");
        });
        bus.subscribe(`${p}.boom`, async () => {
          asyncCalls++;
          throw new Error("async boom");
        });
        const ok = collect(bus, `${p}.boom`);
        bus.subscribe(`${p}.echo`, (msg) => {
          msg.respond(msg.data);
        });
        await bus.flush();
        expect(() => bus.publish(`${p}.boom`, encodeText("1"))).not.toThrow();
        expect(() => bus.publish(`${p}.boom`, encodeText("2"))).not.toThrow();
        await eventually("deliveries to the healthy subscriber", () => ok.msgs.length === 2);
        await eventually("throwing handlers keep receiving", () => syncCalls === 2 && asyncCalls === 2);
        const reply = await bus.request(`${p}.echo`, encodeText("still alive"), { timeoutMs: 2000 });
        expect(reply.string()).toBe("still alive");
      });

      test("close rejects pending requests with BusClosedError and is idempotent", async () => {
        const bus = await open();
        bus.subscribe(`${p}.never`, () => {});
        await bus.flush();
        const pending = settle(bus.request(`${p}.never`, EMPTY, { timeoutMs: 5000 }));
        const started = performance.now();
        expect(bus.closed).toBe(false);
        await bus.close();
        await bus.close();
        const r = await pending;
        expect(performance.now() - started).toBeLessThan(1000);
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.error).toBeInstanceOf(BusClosedError);
        expect(bus.closed).toBe(true);
        expect(() => bus.publish(`${p}.never`)).toThrow(BusClosedError);
        expect(() => bus.subscribe(`${p}.never`, () => {})).toThrow(BusClosedError);
        const after = await settle(bus.request(`${p}.never`));
        expect(after.ok).toBe(false);
        if (!after.ok) expect(after.error).toBeInstanceOf(BusClosedError);
      });

      test("flush resolves on an open bus; transport has a name", async () => {
        const bus = await open();
        bus.publish(`${p}.nobody`);
        await bus.flush();
        expect(typeof bus.transport).toBe("string");
        expect(bus.transport.length).toBeGreaterThan(0);
      });
    });
  });
}
