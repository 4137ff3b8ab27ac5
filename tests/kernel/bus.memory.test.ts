import { afterEach, describe, expect, test } from "bun:test";
import { EMPTY, decodeJson, decodeText, encodeJson, encodeText } from "../../src/kernel/bus/codec.ts";
import { InvalidSubjectError } from "../../src/kernel/bus/errors.ts";
import { MemoryBus, createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { hasWildcard, matches, validatePattern, validateSubject } from "../../src/kernel/bus/subject.ts";
import type { Bus } from "../../src/kernel/bus/types.ts";
import { busContract } from "../contract/bus.contract.ts";
import { eventually } from "../helpers/eventually.ts";

// Memory buses are isolated from each other, so "two clients" in one test share one bus
// (see the contract's module comment). The contract closes it; this only forgets it.
let shared: Bus | undefined;
afterEach(() => {
  shared = undefined;
});
busContract("memory", async () => (shared ??= createMemoryBus()));

describe("memory bus specifics", () => {
  const buses: Bus[] = [];
  const make = (opts?: Parameters<typeof createMemoryBus>[0]): Bus => {
    const bus = createMemoryBus(opts);
    buses.push(bus);
    return bus;
  };
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((bus) => bus.close()));
  });

  test("is a MemoryBus named memory", () => {
    const bus = make();
    expect(bus).toBeInstanceOf(MemoryBus);
    expect(bus.transport).toBe("memory");
    expect(bus.closed).toBe(false);
  });

  test("two buses are isolated", async () => {
    const a = make();
    const b = make();
    const gotA: string[] = [];
    const gotB: string[] = [];
    a.subscribe("x", (m) => void gotA.push(m.string()));
    b.subscribe("x", (m) => void gotB.push(m.string()));
    a.publish("x", encodeText("for a"));
    await a.flush();
    await b.flush();
    expect(gotA).toEqual(["for a"]);
    expect(gotB).toEqual([]);
    await expect(b.request("only.on.a")).rejects.toThrow("no responders");
  });

  test("flush resolves after queued deliveries were handed to their handlers", async () => {
    const bus = make();
    let count = 0;
    bus.subscribe("f", () => {
      count++;
    });
    for (let i = 0; i < 10; i++) bus.publish("f");
    expect(count).toBe(0);
    await bus.flush();
    expect(count).toBe(10);
  });

  test("flush on an idle bus resolves; after close it rejects", async () => {
    const bus = make();
    await bus.flush();
    await bus.close();
    await expect(bus.flush()).rejects.toThrow("bus is closed");
  });

  test("the route cache sees later subscribes and unsubscribes", async () => {
    const bus = make();
    const got: string[] = [];
    bus.publish("cache.x", encodeText("before"));
    const sub = bus.subscribe("cache.*", (m) => void got.push(m.string()));
    bus.publish("cache.x", encodeText("during"));
    await bus.flush();
    sub.unsubscribe();
    bus.publish("cache.x", encodeText("after"));
    await bus.flush();
    expect(got).toEqual(["during"]);
  });

  test("a message published before subscribe is not delivered to it", async () => {
    const bus = make();
    const got: string[] = [];
    bus.subscribe("early", () => {});
    bus.publish("early", encodeText("1"));
    bus.subscribe("early", (m) => void got.push(m.string()));
    await bus.flush();
    expect(got).toEqual([]);
  });

  test("queue groups alternate members when the route is stable", async () => {
    const bus = make();
    const counts = [0, 0];
    bus.subscribe("rr", () => void counts[0]!++, { queue: "g" });
    bus.subscribe("rr", () => void counts[1]!++, { queue: "g" });
    for (let i = 0; i < 100; i++) bus.publish("rr");
    await bus.flush();
    expect(counts).toEqual([50, 50]);
  });

  test("subscription drain still delivers messages already routed to it (nats.js semantics)", async () => {
    const bus = make();
    const got: string[] = [];
    const sub = bus.subscribe("dr", (m) => void got.push(m.string()));
    bus.publish("dr", encodeText("queued"));
    const draining = sub.drain();
    bus.publish("dr", encodeText("after drain"));
    await draining;
    await bus.flush();
    expect(got).toEqual(["queued"]);
  });

  test("subscription drain after unsubscribe waits for running handlers", async () => {
    const bus = make();
    const gate = Promise.withResolvers<void>();
    let finished = false;
    const sub = bus.subscribe("du", async () => {
      await gate.promise;
      finished = true;
    });
    bus.publish("du");
    await bus.flush();
    sub.unsubscribe();
    const draining = sub.drain();
    gate.resolve();
    await draining;
    expect(finished).toBe(true);
  });

  test("bus drain also waits for handlers of subscriptions unsubscribed earlier", async () => {
    const bus = make();
    const gate = Promise.withResolvers<void>();
    let finished = false;
    const sub = bus.subscribe("bd", async () => {
      await gate.promise;
      finished = true;
    });
    bus.publish("bd");
    await bus.flush();
    sub.unsubscribe();
    const draining = bus.drain();
    expect(bus.drain()).toBe(draining);
    gate.resolve();
    await draining;
    expect(finished).toBe(true);
    await bus.drain();
  });

  test("close drops queued deliveries", async () => {
    const bus = make();
    let count = 0;
    bus.subscribe("cq", () => {
      count++;
    });
    bus.publish("cq");
    await bus.close();
    await Bun.sleep(1); // a window in which the queued delivery must NOT run after close
    expect(count).toBe(0);
  });

  test("handler errors go to the logger with the subject, never to the publisher", async () => {
    const logged: Array<{ obj: Record<string, unknown>; msg: string }> = [];
    const bus = make({ logger: { warn: (obj, msg) => void logged.push({ obj: obj as Record<string, unknown>, msg }) } });
    bus.subscribe("err.*", () => {
      throw new Error("sync");
    });
    bus.subscribe(
      "err.*",
      async () => {
        throw new Error("async");
      },
      { queue: "q" },
    );
    bus.publish("err.x");
    await bus.flush();
    await eventually("two log entries", () => logged.length === 2);
    const messages = logged.map((l) => (l.obj.err as Error).message).sort();
    expect(messages).toEqual(["async", "sync"]);
    for (const l of logged) {
      expect(l.obj.subject).toBe("err.x");
      expect(l.obj.pattern).toBe("err.*");
      expect(l.msg).toBe("bus handler failed");
    }
  });

  test("a throwing logger does not break delivery", async () => {
    const bus = make({
      logger: {
        warn: () => {
          throw new Error("logger down");
        },
      },
    });
    let ok = 0;
    bus.subscribe("tl", () => {
      throw new Error("handler");
    });
    bus.subscribe("tl", () => {
      ok++;
    });
    bus.publish("tl");
    bus.publish("tl");
    await bus.flush();
    expect(ok).toBe(2);
  });

  test("request rejects a non-positive or non-finite timeout with RangeError", async () => {
    const bus = make();
    bus.subscribe("t", () => {});
    await expect(bus.request("t", EMPTY, { timeoutMs: 0 })).rejects.toBeInstanceOf(RangeError);
    await expect(bus.request("t", EMPTY, { timeoutMs: Number.NaN })).rejects.toBeInstanceOf(RangeError);
    await expect(bus.request("t", EMPTY, { timeoutMs: Number.POSITIVE_INFINITY })).rejects.toBeInstanceOf(RangeError);
  });

  test("a wildcard subscriber also sees replies on inbox subjects, as on NATS", async () => {
    const bus = make();
    const seen: string[] = [];
    bus.subscribe("_INBOX.>", (m) => void seen.push(m.subject));
    bus.subscribe("svc", (m) => void m.respond(encodeText("r")));
    const reply = await bus.request("svc");
    await bus.flush();
    expect(seen).toEqual([reply.subject]);
  });

  test("queue names must be non-empty without whitespace", () => {
    const bus = make();
    expect(() => bus.subscribe("q", () => {}, { queue: "" })).toThrow(InvalidSubjectError);
    expect(() => bus.subscribe("q", () => {}, { queue: "a b" })).toThrow(InvalidSubjectError);
  });

  test("many fan-out messages across yields keep order", async () => {
    const bus = make();
    const got: number[] = [];
    bus.subscribe("big", (m) => void got.push(m.data[0]! + 256 * m.data[1]!));
    const n = 25_000; // more than one delivery batch, so the queue yields to the event loop midway
    for (let i = 0; i < n; i++) bus.publish("big", new Uint8Array([i % 256, Math.floor(i / 256) % 256]));
    await eventually("all deliveries", () => got.length === n);
    expect(got.every((v, i) => v === i % 65536)).toBe(true);
  });
});

describe("codec", () => {
  test("text and JSON round trips", () => {
    expect(decodeText(encodeText("héllo ✓"))).toBe("héllo ✓");
    expect(decodeJson<{ a: number[] }>(encodeJson({ a: [1, 2] }))).toEqual({ a: [1, 2] });
    expect(encodeText("")).toBe(EMPTY);
    expect(EMPTY.length).toBe(0);
  });

  test("encodeJson throws TypeError for values without JSON form; decodeJson throws SyntaxError", () => {
    expect(() => encodeJson(undefined)).toThrow(TypeError);
    expect(() => decodeJson(EMPTY)).toThrow(SyntaxError);
  });
});

describe("subject", () => {
  test("validateSubject accepts concrete subjects", () => {
    for (const ok of ["a", "a.b.c", "_INBOX.abc.1", "a*", "b>.c", "x-y_z.1.2", "ünï.cödé"]) {
      expect(() => validateSubject(ok), ok).not.toThrow();
    }
  });

  test("validateSubject rejects wildcards, empty tokens and whitespace", () => {
    for (const bad of ["", "*", ">", "a.*", "a.>", "*.a", "a.*.b", ".", "a..b", ".a", "a.", "a b", "a\tb", "a\rb", "a\nb", "a\fb"]) {
      expect(() => validateSubject(bad), JSON.stringify(bad)).toThrow(InvalidSubjectError);
    }
  });

  test("validatePattern accepts wildcards as whole tokens, `>` last", () => {
    for (const ok of ["a", "*", ">", "a.*", "a.>", "*.*", "*.b.>", "a*.b", "a.b>"]) {
      expect(() => validatePattern(ok), ok).not.toThrow();
    }
    for (const bad of ["", "a.>.b", ">.a", ">.>", "a..*", "a.", " a", "a .b"]) {
      expect(() => validatePattern(bad), JSON.stringify(bad)).toThrow(InvalidSubjectError);
    }
  });

  test("the error names the subject and has code INVALID_SUBJECT", () => {
    try {
      validateSubject("a..b");
      throw new Error("should have thrown");
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidSubjectError);
      expect((err as InvalidSubjectError).code).toBe("INVALID_SUBJECT");
      expect((err as InvalidSubjectError).subject).toBe("a..b");
      expect((err as Error).message).toContain("empty token");
    }
  });

  test("hasWildcard", () => {
    expect(hasWildcard("a.b")).toBe(false);
    expect(hasWildcard("a*.b>")).toBe(false);
    expect(hasWildcard("*")).toBe(true);
    expect(hasWildcard(">")).toBe(true);
    expect(hasWildcard("a.*.c")).toBe(true);
    expect(hasWildcard("a.>")).toBe(true);
  });

  const table: Array<[pattern: string, subject: string, expected: boolean]> = [
    ["a", "a", true],
    ["a", "b", false],
    ["a", "a.b", false],
    ["a.b", "a", false],
    ["a.b", "a.b", true],
    ["a.b", "a.bc", false],
    ["a.bc", "a.b", false],
    ["*", "a", true],
    ["*", "a.b", false],
    ["a.*", "a.b", true],
    ["a.*", "a", false],
    ["a.*", "a.b.c", false],
    ["*.b", "a.b", true],
    ["*.b", "a.c", false],
    ["a.*.c", "a.b.c", true],
    ["a.*.c", "a.b.d", false],
    ["a.*.c", "a.b.x.c", false],
    [">", "a", true],
    [">", "a.b.c", true],
    ["a.>", "a", false],
    ["a.>", "a.b", true],
    ["a.>", "a.b.c", true],
    ["a.>", "b.c", false],
    ["a.>", "ab.c", false],
    ["*.>", "a", false],
    ["*.>", "a.b", true],
    ["*.*", "a.b", true],
    ["*.*", "a.b.c", false],
    ["a*", "a*", true],
    ["a*", "ab", false],
    ["_INBOX.*", "_INBOX.x1", true],
  ];
  test.each(table)("matches(%p, %p) is %p", (pattern, subject, expected) => {
    expect(matches(pattern, subject)).toBe(expected);
  });
});
