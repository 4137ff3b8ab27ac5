import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { handOver, requestJson, serveJson } from "../../src/kernel/bus/rpc.ts";
import type { Bus } from "../../src/kernel/bus/types.ts";
import { AppError } from "../../src/kernel/errors.ts";

describe("rpc: values handed over on the memory bus", () => {
  let bus: Bus;
  beforeEach(() => {
    bus = createMemoryBus();
  });
  afterEach(async () => {
    await bus.close();
  });

  test("a handed-over request body reaches the responder as the value itself; an unmarked one as a copy", async () => {
    const received: unknown[] = [];
    serveJson(bus, "t.echo", (req: unknown) => (received.push(req), { ok: true }));
    const marked = { a: 1, items: [{ b: 2 }] };
    const plain = { a: 1, items: [{ b: 2 }] };
    await requestJson(bus, "t.echo", handOver(marked));
    await requestJson(bus, "t.echo", plain);
    expect(received[0]).toBe(marked);
    expect(received[1]).not.toBe(plain);
    expect(received[1]).toEqual(plain);
  });

  test("a handed-over reply reaches the requester as the value; an unmarked (e.g. cached) reply as a copy", async () => {
    const cached = { items: [{ n: 1 }] };
    let fresh: { items: { n: number }[] } | undefined;
    serveJson(bus, "t.cached", () => cached);
    serveJson(bus, "t.fresh", () => handOver((fresh = { items: [{ n: 2 }] })));
    const a = await requestJson<{ items: { n: number }[] }>(bus, "t.cached", null);
    expect(a).toEqual(cached);
    expect(a).not.toBe(cached);
    a.items[0]!.n = 99;
    expect(cached.items[0]!.n).toBe(1);
    const b = await requestJson<{ items: { n: number }[] }>(bus, "t.fresh", null);
    expect(b).toBe(fresh!);
  });

  test("a mark is used once: the same object sent again (a retry) goes as a copy", async () => {
    const received: unknown[] = [];
    serveJson(bus, "t.twice", (req: unknown) => (received.push(req), null));
    const body = handOver({ k: "v" });
    await requestJson(bus, "t.twice", body);
    await requestJson(bus, "t.twice", body);
    expect(received[0]).toBe(body);
    expect(received[1]).not.toBe(body);
    expect(received[1]).toEqual(body);
  });

  test("error replies keep code, message and details; non-AppErrors stay hidden", async () => {
    serveJson(bus, "t.fail", () => {
      throw new AppError("OUT_OF_STOCK", "only 1 left", { productId: "p1", available: 1 });
    });
    serveJson(bus, "t.bug", () => {
      throw new Error("secret internals");
    });
    const err = await requestJson(bus, "t.fail", handOver({ x: 1 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("OUT_OF_STOCK");
    expect((err as AppError).message).toBe("only 1 left");
    expect((err as AppError).details).toEqual({ productId: "p1", available: 1 });
    const bug = (await requestJson(bus, "t.bug", null).catch((e: unknown) => e)) as AppError;
    expect(bug.message).toBe("internal error");
  });

  test("a request without payload reaches the handler as undefined", async () => {
    let got: unknown = "unset";
    serveJson(bus, "t.empty", (req: unknown) => ((got = req), "ok"));
    const reply = await bus.request("t.empty");
    expect(reply.json<string>()).toBe("ok");
    expect(got).toBeUndefined();
  });
});
