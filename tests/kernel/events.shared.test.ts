/**
 * What both event transports share (src/kernel/events/shared.ts), JetStream's error mapping, and
 * the one logger shape's safeLog, pinned without a server. The transports themselves run the
 * contract suite (tests/contract/events.contract.ts) in events.memory / events.jetstream.
 */
import { describe, expect, test } from "bun:test";
import { ErrorCode, NatsError } from "nats";
import { encodeJson } from "../../src/kernel/bus/codec.ts";
import { BusClosedError, EventPublishError, InvalidSubjectError } from "../../src/kernel/bus/errors.ts";
import { isClosedError, publishError } from "../../src/kernel/events/jetstream/errors.ts";
import { streamName } from "../../src/kernel/events/jetstream/streams.ts";
import {
  DEFAULT_MAX_DELIVER,
  DEFAULT_RETRY_DELAY_MS,
  DeliveredEvent,
  checkEventId,
  consumeSettings,
  consumerName,
  eventHeaders,
} from "../../src/kernel/events/shared.ts";
import { EVENT_ID_HEADER } from "../../src/kernel/events/types.ts";
import { type LogSink, safeLog } from "../../src/kernel/logger.ts";

describe("consume settings", () => {
  test("defaults, and the per-subject durable name", () => {
    expect(consumeSettings("order.created", { durable: "catalog" })).toEqual({
      durable: "catalog",
      name: "catalog__order_created",
      maxDeliver: DEFAULT_MAX_DELIVER,
      retryDelayMs: DEFAULT_RETRY_DELAY_MS,
    });
    expect(consumeSettings("order.*", { durable: "c", maxDeliver: 1, retryDelayMs: 0 })).toMatchObject({
      name: "c__order_STAR",
      maxDeliver: 1,
      retryDelayMs: 0,
    });
    expect(consumerName("a b/c", "x.>")).toBe("a_b_c__x_GT");
  });

  test("rejects bad subjects and out-of-range numbers", () => {
    expect(() => consumeSettings("a..b", { durable: "d" })).toThrow(InvalidSubjectError);
    expect(() => consumeSettings("a.b", { durable: " " })).toThrow(RangeError);
    for (const maxDeliver of [0, 1.5, Number.NaN]) expect(() => consumeSettings("a.b", { durable: "d", maxDeliver })).toThrow(RangeError);
    for (const retryDelayMs of [-1, Number.POSITIVE_INFINITY, Number.NaN]) {
      expect(() => consumeSettings("a.b", { durable: "d", retryDelayMs })).toThrow(RangeError);
    }
  });
});

describe("event headers", () => {
  test("the event id replaces any spelling of the id header; other headers kept", () => {
    const h = eventHeaders({ eventId: "e1", headers: { "nats-msg-id": "fake", "NATS-MSG-ID": "fake2", "x-tenant": "t" } });
    expect(h).toEqual({ "x-tenant": "t", [EVENT_ID_HEADER]: "e1" });
    expect(eventHeaders({ eventId: "e2" })).toEqual({ [EVENT_ID_HEADER]: "e2" });
  });

  test("an event id is required", () => {
    expect(() => checkEventId({ eventId: "" })).toThrow(RangeError);
    expect(() => checkEventId({} as { eventId: string })).toThrow(RangeError);
    expect(() => checkEventId({ eventId: "ok" })).not.toThrow();
  });
});

test("DeliveredEvent decodes its JSON payload", () => {
  const msg = new DeliveredEvent("a.b", encodeJson({ n: 2 }), { k: "v" }, "id", 3);
  expect(msg.json<{ n: number }>()).toEqual({ n: 2 });
  expect([msg.subject, msg.eventId, msg.deliveryCount, msg.headers["k"]]).toEqual(["a.b", "id", 3, "v"]);
});

describe("jetstream errors", () => {
  const reasonOf = (err: Error): string => (err instanceof EventPublishError ? err.reason : `not an EventPublishError: ${err.name}`);

  test("publish failures map to EventPublishError reasons, with the original as cause", () => {
    const noResponders = NatsError.errorForCode(ErrorCode.NoResponders);
    const mapped = publishError(noResponders, "s.x");
    expect(reasonOf(mapped)).toBe("no_stream");
    expect((mapped as { cause?: unknown }).cause).toBe(noResponders);
    expect(reasonOf(publishError(NatsError.errorForCode(ErrorCode.Timeout), "s.x"))).toBe("timeout");
    expect(reasonOf(publishError(new Error("odd"), "s.x"))).toBe("rejected");
    const api = Object.assign(new Error("api"), { api_error: { code: 400, err_code: 10054, description: "maximum messages exceeded" } });
    const rejected = publishError(api, "s.x");
    expect(reasonOf(rejected)).toBe("rejected");
    expect(rejected.message).toContain("maximum messages exceeded");
  });

  test("a closed or draining connection is BusClosedError", () => {
    expect(publishError(NatsError.errorForCode(ErrorCode.ConnectionClosed), "s")).toBeInstanceOf(BusClosedError);
    expect(publishError(NatsError.errorForCode(ErrorCode.ConnectionDraining), "s")).toBeInstanceOf(BusClosedError);
    expect(isClosedError(new BusClosedError())).toBe(true);
    expect(isClosedError(NatsError.errorForCode(ErrorCode.Timeout))).toBe(false);
  });

  test("stream names", () => {
    expect(streamName("order")).toBe("EVENTS_ORDER");
    expect(streamName("a-b.c")).toBe("EVENTS_A_B_C");
  });
});

describe("safeLog", () => {
  test("writes at the level asked, ignores a missing logger, swallows a throwing one", () => {
    const lines: string[] = [];
    const sink: LogSink = {
      info: (_o, m) => void lines.push(`info ${m}`),
      warn: (_o, m) => void lines.push(`warn ${m}`),
      error: () => {
        throw new Error("logger down");
      },
    };
    safeLog(sink, "warn", {}, "w");
    safeLog(sink, "info", {}, "i");
    expect(() => safeLog(sink, "error", {}, "e")).not.toThrow();
    expect(() => safeLog(undefined, "warn", {}, "none")).not.toThrow();
    expect(lines).toEqual(["warn w", "info i"]);
  });
});
