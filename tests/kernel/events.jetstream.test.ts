import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, nanos } from "nats";
import { encodeText } from "../../src/kernel/bus/codec.ts";
import { createNatsBus, type NatsBus } from "../../src/kernel/bus/nats.ts";
import { startNats, type NatsServer } from "../../scripts/devservers/nats.ts";
import { createJetStreamEvents, streamName, type JetStreamEventsOptions } from "../../src/kernel/events/jetstream.ts";
import type { EventMsg } from "../../src/kernel/events/types.ts";

import { eventsContract, type EventsInstance } from "../contract/events.contract.ts";
import { eventually } from "../helpers/eventually.ts";

// One real nats-server (JetStream on, file store in a temp dir) for the file; every factory call is
// a new connection with its own JetStream events, so "two instances" are two processes' worth.
let server: NatsServer;
beforeAll(async () => {
  server = await startNats();
});
afterAll(async () => {
  await server?.stop();
});

async function instance(url: string, opts: JetStreamEventsOptions = {}): Promise<EventsInstance & { bus: NatsBus }> {
  const bus = await createNatsBus({ servers: [url], name: "switchyard-events-test" });
  // A short attach retry keeps the "consume before declare" case fast.
  const events = createJetStreamEvents(bus.connection, { retryIntervalMs: 100, ...opts });
  return {
    events,
    bus,
    durableBeforeConsume: true,
    async cleanup() {
      await events.close();
      await bus.close();
    },
  };
}

eventsContract("jetstream", () => instance(server.url));

const token = (): string => crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const text = (m: EventMsg): string => new TextDecoder().decode(m.data);

describe("jetstream events specifics", () => {
  const opened: EventsInstance[] = [];
  const open = async (url = server.url, opts?: JetStreamEventsOptions): Promise<EventsInstance & { bus: NatsBus }> => {
    const i = await instance(url, opts);
    opened.push(i);
    return i;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((i) => i.cleanup()));
  });

  test("declare creates EVENTS_<MODULE> with exactly the subjects, file storage, limits, 2 min dedup; re-declare updates", async () => {
    const t = token();
    const w = await open();
    expect(w.events.kind).toBe("jetstream");
    expect(streamName(`order-v${t}`)).toBe(`EVENTS_ORDER_V${t.toUpperCase()}`);
    await w.events.declare(`order-v${t}`, [`j${t}.created`, `j${t}.paid`]);
    const jsm = await w.bus.connection.jetstreamManager();
    const info = await jsm.streams.info(streamName(`order-v${t}`));
    expect(info.config.subjects).toEqual([`j${t}.created`, `j${t}.paid`]);
    expect(info.config.storage).toBe(StorageType.File);
    expect(info.config.retention).toBe(RetentionPolicy.Limits);
    expect(info.config.duplicate_window).toBe(nanos(120_000));
    await w.events.declare(`order-v${t}`, [`j${t}.created`, `j${t}.cancelled`]);
    const updated = await jsm.streams.info(streamName(`order-v${t}`));
    expect(updated.config.subjects).toEqual([`j${t}.created`, `j${t}.cancelled`]);
    await w.events.declare(`empty${t}`, []);
    await expect(jsm.streams.info(streamName(`empty${t}`))).rejects.toThrow();
  });

  test("subjects already owned by another module's stream fail to declare with a BusError", async () => {
    const t = token();
    const w = await open();
    await w.events.declare(`a${t}`, [`o${t}.x`]);
    await expect(w.events.declare(`b${t}`, [`o${t}.x`])).rejects.toMatchObject({ code: "EVENTS_DECLARE_FAILED" });
  });

  test("the durable consumer is <durable>__<subject>: explicit ack, ack_wait, max_deliver, deliver all", async () => {
    const t = token();
    const w = await open();
    await w.events.declare(`c${t}`, [`c${t}.made`]);
    await w.events.consume(`c${t}.made`, async () => {}, { durable: "catalog", maxDeliver: 4, ackWaitMs: 45_000 });
    const jsm = await w.bus.connection.jetstreamManager();
    const ci = await jsm.consumers.info(streamName(`c${t}`), `catalog__c${t}_made`);
    expect(ci.config.durable_name).toBe(`catalog__c${t}_made`);
    expect(ci.config.filter_subject).toBe(`c${t}.made`);
    expect(ci.config.ack_policy).toBe(AckPolicy.Explicit);
    expect(ci.config.ack_wait).toBe(nanos(45_000));
    expect(ci.config.max_deliver).toBe(4);
    expect(ci.config.deliver_policy).toBe(DeliverPolicy.All);
  });

  test("republishing an eventId within the duplicate window is stored once", async () => {
    const t = token();
    const w = await open();
    await w.events.declare(`d${t}`, [`d${t}.e`]);
    const got: EventMsg[] = [];
    await w.events.consume(`d${t}.e`, async (m) => void got.push(m), { durable: "dedup", maxInFlight: 1 });
    await w.events.publish(`d${t}.e`, encodeText("once"), { eventId: "same" });
    await w.events.publish(`d${t}.e`, encodeText("twice"), { eventId: "same" });
    await w.events.publish(`d${t}.e`, encodeText("sentinel"), { eventId: "other" });
    await eventually("sentinel", () => got.some((m) => text(m) === "sentinel"), { timeoutMs: 5000 });
    expect(got.map(text)).toEqual(["once", "sentinel"]);
  });

  test("a consumer whose process dies mid-handler gets the event redelivered to a new connection", async () => {
    const t = token();
    const first = await open();
    await first.events.declare(`k${t}`, [`k${t}.job`]);
    const gate = Promise.withResolvers<void>();
    const firstSeen: EventMsg[] = [];
    await first.events.consume(
      `k${t}.job`,
      async (m) => {
        firstSeen.push(m);
        await gate.promise; // never acks before its "process" dies
      },
      { durable: "worker", ackWaitMs: 1000 },
    );
    await first.events.publish(`k${t}.job`, encodeText("work"), { eventId: `job-${t}` });
    await eventually("first delivery", () => firstSeen.length === 1, { timeoutMs: 5000 });
    await first.bus.close(); // the process dies: no ack, no nak, no more in-progress acks

    const second = await open();
    const secondSeen: EventMsg[] = [];
    await second.events.consume(`k${t}.job`, async (m) => void secondSeen.push(m), { durable: "worker", ackWaitMs: 1000 });
    await eventually("redelivery after ack_wait", () => secondSeen.length === 1, { timeoutMs: 5000 });
    expect(secondSeen[0]!.eventId).toBe(`job-${t}`);
    expect(secondSeen[0]!.deliveryCount).toBe(2);
    expect(text(secondSeen[0]!)).toBe("work");
    gate.resolve();
  });

  test("a long handler keeps its event (in-progress acks) instead of a redelivery at ack_wait", async () => {
    const t = token();
    const w = await open();
    await w.events.declare(`l${t}`, [`l${t}.slow`]);
    const seen: number[] = [];
    await w.events.consume(
      `l${t}.slow`,
      async (m) => {
        seen.push(m.deliveryCount);
        await Bun.sleep(1800);
      },
      { durable: "slow", ackWaitMs: 1000 },
    );
    await w.events.publish(`l${t}.slow`, encodeText("s"), { eventId: token() });
    await eventually("delivery", () => seen.length === 1, { timeoutMs: 5000 });
    // Ready to judge once the handler's ack reached the server (the consumer's ack floor moved):
    // without in-progress acks the event would have been redelivered after 1000 ms, before that.
    const jsm = await w.bus.connection.jetstreamManager();
    await eventually(
      "the slow handler's ack on the consumer",
      async () => (await jsm.consumers.info(streamName(`l${t}`), `slow__l${t}_slow`)).ack_floor.stream_seq >= 1,
      { timeoutMs: 5000 },
    );
    expect(seen).toEqual([1]);
  });

  test("maxInFlight bounds concurrent handlers per consume call", async () => {
    const t = token();
    const w = await open();
    await w.events.declare(`m${t}`, [`m${t}.x`]);
    let running = 0;
    let peak = 0;
    let done = 0;
    await w.events.consume(
      `m${t}.x`,
      async () => {
        running++;
        peak = Math.max(peak, running);
        await Bun.sleep(20);
        running--;
        done++;
      },
      { durable: "bounded", maxInFlight: 2 },
    );
    for (let i = 0; i < 8; i++) await w.events.publish(`m${t}.x`, encodeText(String(i)), { eventId: `${t}-${i}` });
    await eventually("all handled", () => done === 8, { timeoutMs: 5000 });
    expect(peak).toBe(2);
  });

  test("an instance that drains hands the durable over: the other instance gets later events promptly", async () => {
    const t = token();
    const a = await open();
    const b = await open();
    await a.events.declare(`h${t}`, [`h${t}.x`]);
    const ga: EventMsg[] = [];
    const gb: EventMsg[] = [];
    const subA = await a.events.consume(`h${t}.x`, async (m) => void ga.push(m), { durable: "pair" });
    await b.events.consume(`h${t}.x`, async (m) => void gb.push(m), { durable: "pair" });
    await subA.drain();
    for (let i = 0; i < 5; i++) await a.events.publish(`h${t}.x`, encodeText(String(i)), { eventId: `${t}-${i}` });
    await eventually("all events on the remaining instance", () => gb.length === 5, { timeoutMs: 5000 });
    expect(ga.length).toBe(0);
  });

  test("publishing while the connection is closed rejects with BusClosedError", async () => {
    const t = token();
    const w = await open();
    await w.events.declare(`p${t}`, [`p${t}.x`]);
    await w.bus.close();
    await expect(w.events.publish(`p${t}.x`, encodeText("x"), { eventId: "1" })).rejects.toMatchObject({ code: "BUS_CLOSED" });
  });

  describe("server restart", () => {
    let own: NatsServer;
    beforeAll(async () => {
      own = await startNats();
    });
    afterAll(async () => {
      await own?.stop();
    });

    test("stored events survive a server restart and reach a consumer created afterwards", async () => {
      const t = token();
      const pub = await open(own.url);
      await pub.events.declare(`s${t}`, [`s${t}.kept`]);
      await pub.events.publish(`s${t}.kept`, encodeText("before restart"), { eventId: `k-${t}` });
      await own.restart();
      const sub = await open(own.url);
      const got: EventMsg[] = [];
      await sub.events.consume(`s${t}.kept`, async (m) => void got.push(m), { durable: "survivor" });
      await eventually("stored event after restart", () => got.length === 1, { timeoutMs: 8000 });
      expect(text(got[0]!)).toBe("before restart");
      // The publisher's connection reconnected by itself and can publish again.
      const published = await eventually(
        "a publish on the reconnected connection",
        () => pub.events.publish(`s${t}.kept`, encodeText("after"), { eventId: `k2-${t}` }).then(() => true),
        { timeoutMs: 8000, intervalMs: 100 },
      ).catch(() => false);
      expect(published).toBe(true);
      await eventually("event published after restart", () => got.length === 2, { timeoutMs: 5000 });
    }, 20_000);
  });
});
