import { describe, expect, test } from "bun:test";
import { ChannelOverflowError } from "../../src/kernel/bus/channel.ts";
import { encodeJson } from "../../src/kernel/bus/codec.ts";
import { NoRespondersError } from "../../src/kernel/bus/errors.ts";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { liveEvents } from "../../src/kernel/events/live.ts";
import { createMemoryEventStream } from "../../src/kernel/events/memory.ts";
import { EVENT_ID_HEADER } from "../../src/kernel/events/types.ts";

/** liveEvents: the core-bus view of an event subject that subscription resolvers iterate. */

interface E {
  eventId: string;
  n: number;
}

describe("liveEvents", () => {
  test("sees events published through the EventStream as plain bus messages, filtered, each event id once", async () => {
    const bus = createMemoryBus();
    const events = createMemoryEventStream(bus);
    await events.declare("test", ["test.happened"]);
    const it = liveEvents<E>(bus, "test.happened", { filter: (e) => e.n % 2 === 0 });
    for (const n of [1, 2, 3, 4]) await events.publish("test.happened", encodeJson({ eventId: `e${n}`, n }), { eventId: `e${n}` });
    // The same event again (a publisher retry): delivered once.
    await events.publish("test.happened", encodeJson({ eventId: "e2", n: 2 }), { eventId: "e2" });
    // Without the header, the payload's eventId deduplicates too.
    bus.publish("test.happened", encodeJson({ eventId: "e4", n: 4 }));
    bus.publish("test.happened", encodeJson({ eventId: "e6", n: 6 }));
    const got: number[] = [];
    for await (const e of it) {
      got.push(e.n);
      if (e.n === 6) break;
    }
    expect(got).toEqual([2, 4, 6]);
    await events.close();
    await bus.close();
  });

  test("skips malformed payloads (reported), and leaving the iterator unsubscribes at once", async () => {
    const bus = createMemoryBus();
    const malformed: string[] = [];
    const it = liveEvents<E>(bus, "test.x", { onMalformed: (m) => void malformed.push(m.string()) });
    bus.publish("test.x", new TextEncoder().encode("{not json"));
    bus.publish("test.x", encodeJson({ eventId: "a", n: 1 }), { headers: { [EVENT_ID_HEADER]: "a" } });
    expect((await it.next()).value).toEqual({ eventId: "a", n: 1 });
    expect(malformed).toEqual(["{not json"]);
    // A pending next() is settled by return(), and nobody listens on the subject any more.
    const pending = it.next();
    await it.return?.();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(await bus.request("test.x", undefined, { timeoutMs: 100 }).catch((e: unknown) => e)).toBeInstanceOf(NoRespondersError);
    await bus.close();
  });

  test("a consumer falling more than maxBuffered events behind fails with ChannelOverflowError", async () => {
    const bus = createMemoryBus();
    const it = liveEvents<E>(bus, "test.y", { maxBuffered: 3 });
    for (let n = 0; n < 5; n++) bus.publish("test.y", encodeJson({ eventId: `y${n}`, n }));
    await bus.flush();
    const got: number[] = [];
    let error: unknown;
    try {
      for await (const e of it) got.push(e.n);
    } catch (err) {
      error = err;
    }
    expect(got).toEqual([0, 1, 2]);
    expect(error).toBeInstanceOf(ChannelOverflowError);
    expect(await bus.request("test.y", undefined, { timeoutMs: 100 }).catch((e: unknown) => e)).toBeInstanceOf(NoRespondersError);
    await bus.close();
  });
});
