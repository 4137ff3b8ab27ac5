/**
 * The NATS transport's pieces that carry logic of their own, pinned without a server: header
 * conversion, error mapping, the reconnect buffer and which status events are logged. The bus as
 * a whole is exercised against a real nats-server in bus.nats.test.ts and the contract suite.
 */
import { describe, expect, test } from "bun:test";
import { DebugEvents, ErrorCode, Events, NatsError, headers as natsHeaders } from "nats";
import { BusClosedError, BusError, BusTimeoutError, InvalidSubjectError, NoRespondersError } from "../../src/kernel/bus/errors.ts";
import { mapNatsError } from "../../src/kernel/bus/nats/errors.ts";
import { fromNatsHeaders, toNatsHeaders } from "../../src/kernel/bus/nats/headers.ts";
import { type BufferedPublish, ReconnectBuffer } from "../../src/kernel/bus/nats/reconnect-buffer.ts";
import { statusLine } from "../../src/kernel/bus/nats/status-log.ts";
import type { LogSink } from "../../src/kernel/logger.ts";

interface Line {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}

function recorder(): LogSink & { lines: Line[] } {
  const lines: Line[] = [];
  const at =
    (level: string) =>
    (obj: object, msg: string): void =>
      void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { lines, info: at("info"), warn: at("warn"), error: at("error") };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof BusError ? err.code : `not a BusError: ${String(err)}`;
  }
  return undefined;
}

describe("nats headers", () => {
  test("round trip keeps keys (case included) and values", () => {
    const h = toNatsHeaders({ "X-Request-Id": "r1", traceparent: "00-abc-def-01", "Mixed-CASE": "v" });
    expect(h).toBeDefined();
    expect(fromNatsHeaders(h)).toEqual({ "X-Request-Id": "r1", traceparent: "00-abc-def-01", "Mixed-CASE": "v" });
  });

  test("no header at all gives no nats.js headers (a plain PUB)", () => {
    expect(toNatsHeaders(undefined)).toBeUndefined();
    expect(toNatsHeaders({})).toBeUndefined();
    expect(fromNatsHeaders(undefined)).toEqual({});
  });

  test("keys and values NATS cannot frame throw BusError NATS_BAD_HEADER", () => {
    expect(codeOf(() => toNatsHeaders({ "a:b": "x" }))).toBe("NATS_BAD_HEADER");
    expect(codeOf(() => toNatsHeaders({ ok: "line\r\nInjected: 1" }))).toBe("NATS_BAD_HEADER");
    expect(codeOf(() => toNatsHeaders({ ok: "fine" }))).toBeUndefined();
  });

  test("repeated keys from other clients join with ', '", () => {
    const h = natsHeaders();
    h.append("Accept", "a");
    h.append("Accept", "b");
    h.set("One", "1");
    expect(fromNatsHeaders(h)).toEqual({ Accept: "a, b", One: "1" });
  });
});

describe("mapNatsError", () => {
  const nats = (code: string): NatsError => NatsError.errorForCode(code);

  test("nats.js codes map to the bus's typed errors", () => {
    const noResponders = mapNatsError(nats(ErrorCode.NoResponders), "svc.x");
    expect(noResponders).toBeInstanceOf(NoRespondersError);
    expect((noResponders as NoRespondersError).subject).toBe("svc.x");

    const timeout = mapNatsError(nats(ErrorCode.Timeout), "svc.y", 1234);
    expect(timeout).toBeInstanceOf(BusTimeoutError);
    expect(timeout).toMatchObject({ subject: "svc.y", timeoutMs: 1234 });

    expect(mapNatsError(nats(ErrorCode.ConnectionClosed), "a")).toBeInstanceOf(BusClosedError);
    expect(mapNatsError(nats(ErrorCode.ConnectionDraining), "a")).toBeInstanceOf(BusClosedError);

    const bad = mapNatsError(nats(ErrorCode.BadSubject), "a..b");
    expect(bad).toBeInstanceOf(InvalidSubjectError);
    expect((bad as InvalidSubjectError).subject).toBe("a..b");
  });

  test("other nats.js codes become BusError NATS_<CODE> with the original as cause", () => {
    const original = nats(ErrorCode.MaxPayloadExceeded);
    const mapped = mapNatsError(original, "big");
    expect(mapped).toBeInstanceOf(BusError);
    expect((mapped as BusError).code).toBe("NATS_MAX_PAYLOAD_EXCEEDED");
    expect(mapped.message).toBe(original.message);
    expect((mapped as { cause?: unknown }).cause).toBe(original);
    expect((mapNatsError(nats(ErrorCode.BadHeader), "") as BusError).code).toBe("NATS_BAD_HEADER");
  });

  test("bus errors and non-nats errors pass through; a non-Error becomes BUS_ERROR", () => {
    const closed = new BusClosedError();
    expect(mapNatsError(closed, "a")).toBe(closed);
    const range = new RangeError("nope");
    expect(mapNatsError(range, "a")).toBe(range);
    const wrapped = mapNatsError("just text", "a");
    expect(wrapped).toBeInstanceOf(BusError);
    expect((wrapped as BusError).code).toBe("BUS_ERROR");
    expect(wrapped.message).toBe("just text");
  });
});

describe("ReconnectBuffer", () => {
  const item = (subject: string, size: number): BufferedPublish => ({
    subject,
    data: new Uint8Array(size),
    reply: undefined,
    headers: undefined,
  });

  test("holds up to its limit (payload + subject bytes); past it throws BUS_RECONNECT_BUFFER_FULL and keeps what it had", () => {
    const log = recorder();
    const buffer = new ReconnectBuffer(20, log);
    buffer.hold(item("a.b", 7)); // 10 bytes
    buffer.hold(item("c.d", 7)); // 20 bytes: exactly the limit
    expect(buffer.length).toBe(2);
    expect(buffer.bytes).toBe(20);
    expect(codeOf(() => buffer.hold(item("e", 0)))).toBe("BUS_RECONNECT_BUFFER_FULL");
    expect(buffer.length).toBe(2);
    expect(buffer.bytes).toBe(20);
    // Warned once, when buffering started.
    expect(log.lines).toEqual([{ level: "warn", obj: { subject: "a.b" }, msg: "nats disconnected; buffering publishes until reconnect" }]);
  });

  test("flush sends oldest first, skips (and logs) a publish that fails, then is empty", () => {
    const log = recorder();
    const buffer = new ReconnectBuffer(1024, log);
    for (const s of ["one", "two", "three"]) buffer.hold(item(s, 1));
    const sent: string[] = [];
    buffer.flush((p) => {
      if (p.subject === "two") throw new Error("boom");
      sent.push(p.subject);
    });
    expect(sent).toEqual(["one", "three"]);
    expect(buffer.length).toBe(0);
    expect(buffer.bytes).toBe(0);
    expect(log.lines.slice(1).map((l) => [l.level, l.msg, l.obj["subject"] ?? l.obj["sent"]])).toEqual([
      ["warn", "buffered publish failed after reconnect", "two"],
      ["info", "nats reconnected; buffered publishes sent", 2],
    ]);
    // Empty: nothing sent, nothing logged.
    buffer.flush(() => sent.push("unexpected"));
    expect(sent).toEqual(["one", "three"]);
    expect(log.lines).toHaveLength(3);
    // Room again after a flush.
    buffer.hold(item("x", 1000));
    expect(buffer.bytes).toBe(1001);
  });

  test("drop forgets everything and logs how much; a throwing logger changes nothing", () => {
    const log = recorder();
    const buffer = new ReconnectBuffer(1024, log);
    buffer.drop();
    expect(log.lines).toEqual([]);
    buffer.hold(item("a", 1));
    buffer.hold(item("b", 1));
    buffer.drop();
    expect(buffer.length).toBe(0);
    expect(log.lines.at(-1)).toEqual({
      level: "warn",
      obj: { dropped: 2 },
      msg: "bus closed while disconnected; buffered publishes dropped",
    });

    const throwing = new ReconnectBuffer(1024, {
      info: () => {
        throw new Error("logger down");
      },
      warn: () => {
        throw new Error("logger down");
      },
    });
    throwing.hold(item("a", 1));
    const sent: string[] = [];
    throwing.flush((p) => void sent.push(p.subject));
    expect(sent).toEqual(["a"]);
  });
});

describe("status log lines", () => {
  test("disconnect, reconnect, lame duck, async error and stale connection are logged; the rest is noise", () => {
    expect(statusLine({ type: Events.Disconnect })).toEqual({ level: "warn", msg: "nats disconnected; reconnecting" });
    expect(statusLine({ type: Events.Reconnect })).toEqual({ level: "info", msg: "nats reconnected" });
    expect(statusLine({ type: Events.LDM })).toEqual({ level: "warn", msg: "nats server entering lame duck mode" });
    expect(statusLine({ type: Events.Error })).toEqual({ level: "error", msg: "nats async error" });
    expect(statusLine({ type: DebugEvents.StaleConnection })).toEqual({ level: "warn", msg: "nats connection stale" });
    expect(statusLine({ type: DebugEvents.Reconnecting })).toBeUndefined();
    expect(statusLine({ type: DebugEvents.PingTimer })).toBeUndefined();
    expect(statusLine({ type: Events.Update })).toBeUndefined();
  });
});
