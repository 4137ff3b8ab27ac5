import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { EMPTY, encodeText } from "../../src/kernel/bus/codec.ts";
import { BusClosedError, BusError, BusTimeoutError } from "../../src/kernel/bus/errors.ts";
import { createNatsBus, type NatsBus, type NatsBusOptions } from "../../src/kernel/bus/nats.ts";
import type { LogSink } from "../../src/kernel/logger.ts";
import type { Msg } from "../../src/kernel/bus/types.ts";
import { startNats, type NatsServer } from "../../scripts/devservers/nats.ts";
import { busContract } from "../contract/bus.contract.ts";
import { eventually } from "../helpers/eventually.ts";

// One real nats-server for the whole file; every factory call is a NEW connection to it
// (the contract's "two clients" convention), and the contract closes what it opened.
let server: NatsServer;
beforeAll(async () => {
  server = await startNats();
});
afterAll(async () => {
  await server?.stop();
});

busContract("nats", () => createNatsBus({ servers: [server.url], name: "switchyard-test" }));

interface LogLine {
  level: "info" | "warn" | "error";
  obj: object;
  msg: string;
}

function memoryLogger(): LogSink & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (obj, msg) => void lines.push({ level: "info", obj, msg }),
    warn: (obj, msg) => void lines.push({ level: "warn", obj, msg }),
    error: (obj, msg) => void lines.push({ level: "error", obj, msg }),
  };
}

const prefix = (): string => `nt.${crypto.randomUUID().slice(0, 8)}`;

describe("nats bus specifics", () => {
  const buses: NatsBus[] = [];
  const open = async (url = server.url, logger?: LogSink, extra?: Partial<NatsBusOptions>): Promise<NatsBus> => {
    const bus = await createNatsBus({
      servers: [url],
      name: "switchyard-test",
      ...(logger === undefined ? {} : { logger }),
      ...extra,
    });
    buses.push(bus);
    return bus;
  };
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((bus) => bus.close()));
  });

  test("is named nats, exposes its connection with the configured name", async () => {
    const bus = await open();
    expect(bus.transport).toBe("nats");
    expect(bus.connection.isClosed()).toBe(false);
    expect(bus.connection.getServer()).toContain(String(server.port));
    await bus.close();
    expect(bus.connection.isClosed()).toBe(true);
  });

  test("headers keep key case both ways (request and reply)", async () => {
    const p = prefix();
    const responder = await open();
    const client = await open();
    let seen: Msg | undefined;
    responder.subscribe(`${p}.h`, (msg) => {
      seen = msg;
      msg.respond(EMPTY, { headers: { "X-Reply-Id": "r-1", lower: "l", MiXeD: "m" } });
    });
    await responder.flush();
    const reply = await client.request(`${p}.h`, EMPTY, {
      headers: { "X-Trace-Id": "t-1", "x-lower-only": "a", CamelCase: "b" },
      timeoutMs: 2000,
    });
    expect(seen?.headers).toEqual({ "X-Trace-Id": "t-1", "x-lower-only": "a", CamelCase: "b" });
    expect(reply.headers).toEqual({ "X-Reply-Id": "r-1", lower: "l", MiXeD: "m" });
  });

  test("headers NATS cannot carry are rejected with a BusError, not sent", async () => {
    const bus = await open();
    expect(() => bus.publish("x", EMPTY, { headers: { "bad:key": "v" } })).toThrow(BusError);
    expect(() => bus.publish("x", EMPTY, { headers: { k: "a\r\nInjected: 1" } })).toThrow(BusError);
  });

  test("drain on shutdown lets an in-flight handler finish and reply, then closes the connection", async () => {
    const p = prefix();
    const responder = await open();
    const client = await open();
    let started = false;
    responder.subscribe(`${p}.slow`, async (msg) => {
      started = true;
      await Bun.sleep(100);
      msg.respond(encodeText("finished"));
    });
    await responder.flush();
    const reply = client.request(`${p}.slow`, EMPTY, { timeoutMs: 3000 });
    await eventually("handler start", () => started);
    await responder.drain();
    expect((await reply).string()).toBe("finished");
    expect(responder.closed).toBe(true);
    expect(responder.connection.isClosed()).toBe(true);
    // Drained means unsubscribed at the server: a new request finds nobody.
    await expect(client.request(`${p}.slow`, EMPTY, { timeoutMs: 500 })).rejects.toThrow("no responders");
  });

  test("a failed initial connection rejects with BusError BUS_CONNECT_FAILED", async () => {
    const err = await createNatsBus({ servers: ["nats://127.0.0.1:1"], name: "nobody", connectTimeoutMs: 1000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BusError);
    expect((err as BusError).code).toBe("BUS_CONNECT_FAILED");
  });

  test("a missing creds file rejects with BUS_CONNECT_FAILED", async () => {
    const err = await createNatsBus({ servers: [server.url], name: "creds", credsFile: "/nonexistent/x.creds" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as BusError).code).toBe("BUS_CONNECT_FAILED");
  });

  describe("server restart", () => {
    // Its own server: killing the shared one would break the other tests' connections.
    let own: NatsServer;
    beforeAll(async () => {
      own = await startNats();
    });
    afterAll(async () => {
      await own?.stop();
    });

    test("reconnects by itself; requests while the server is down fail in time with a typed error", async () => {
      const p = prefix();
      const log = memoryLogger();
      const responder = await open(own.url);
      const client = await open(own.url, log);
      responder.subscribe(`${p}.ping`, (msg) => void msg.respond(encodeText("pong")));
      await responder.flush();
      expect((await client.request(`${p}.ping`, EMPTY, { timeoutMs: 2000 })).string()).toBe("pong");

      await own.kill();
      await eventually("disconnect logged", () => log.lines.some((l) => l.msg.includes("disconnected")));
      const started = performance.now();
      const down = await client.request(`${p}.ping`, EMPTY, { timeoutMs: 300 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      const elapsed = performance.now() - started;
      expect(down).toBeInstanceOf(BusError);
      expect(down).toBeInstanceOf(BusTimeoutError);
      expect(elapsed).toBeLessThan(1000);
      expect(client.closed).toBe(false);

      await own.restart();
      await eventually("reconnect logged", () => log.lines.some((l) => l.msg === "nats reconnected"), { timeoutMs: 10_000 });
      // The responder resubscribes on its own reconnect, which may land a moment later.
      const answer = await eventually(
        "an answer from the resubscribed responder",
        async () => (await client.request(`${p}.ping`, EMPTY, { timeoutMs: 500 })).string(),
        { timeoutMs: 10_000, intervalMs: 50 },
      ).catch(() => undefined);
      expect(answer).toBe("pong");
      expect(log.lines.find((l) => l.msg.includes("disconnected"))?.level).toBe("warn");
    }, 20_000);

    test("publishes made while the server is down are sent, in order, after the reconnect", async () => {
      const p = prefix();
      const log = memoryLogger();
      const bus = await open(own.url, log);
      const got: string[] = [];
      bus.subscribe(`${p}.buf`, (m) => void got.push(m.string()));
      await bus.flush();
      await own.kill();
      await eventually("disconnect noticed", () => log.lines.some((l) => l.msg.includes("disconnected")));
      for (let i = 0; i < 5; i++) bus.publish(`${p}.buf`, encodeText(String(i)));
      await own.restart();
      bus.publish(`${p}.buf`, encodeText("after"));
      await eventually("buffered and later messages", () => got.length === 6, { timeoutMs: 10_000 });
      expect(got).toEqual(["0", "1", "2", "3", "4", "after"]);
    }, 15_000);

    test("a request issued during a short outage is answered once the server is back", async () => {
      const p = prefix();
      const log = memoryLogger();
      // One connection: its SUB is re-sent on reconnect before the held request goes out. (Across two
      // connections the client could come back first and get "no responders".)
      const client = await open(own.url, log);
      client.subscribe(`${p}.svc`, (m) => void m.respond(encodeText("ok")));
      await client.flush();
      await own.kill();
      await eventually("disconnect noticed", () => log.lines.some((l) => l.msg.includes("disconnected")));
      const reply = client.request(`${p}.svc`, EMPTY, { timeoutMs: 8000 });
      await own.restart();
      expect((await reply).string()).toBe("ok");
    }, 15_000);

    test("a full reconnect buffer makes publish throw BUS_RECONNECT_BUFFER_FULL", async () => {
      const log = memoryLogger();
      const bus = await open(own.url, log, { reconnectBufferBytes: 64 });
      await own.kill();
      try {
        await eventually("disconnect noticed", () => log.lines.some((l) => l.msg.includes("disconnected")));
        bus.publish("buf.full", new Uint8Array(40));
        let thrown: unknown;
        try {
          bus.publish("buf.full", new Uint8Array(40));
        } catch (err) {
          thrown = err;
        }
        expect(thrown).toBeInstanceOf(BusError);
        expect((thrown as BusError).code).toBe("BUS_RECONNECT_BUFFER_FULL");
      } finally {
        await own.restart();
      }
    });

    test("close while the server is down does not hang; pending requests reject with BusClosedError", async () => {
      const bus = await open(own.url);
      await own.kill();
      try {
        const pending = bus.request(`${prefix()}.x`, EMPTY, { timeoutMs: 5000 }).then(
          () => undefined,
          (e: unknown) => e,
        );
        const started = performance.now();
        await bus.close();
        expect(await pending).toBeInstanceOf(BusClosedError);
        expect(performance.now() - started).toBeLessThan(1000);
      } finally {
        await own.restart();
      }
    });
  });
});
