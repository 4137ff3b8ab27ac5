import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ChannelOverflowError, Channel } from "../../src/kernel/bus/channel.ts";
import { encodeJson } from "../../src/kernel/bus/codec.ts";
import { NoRespondersError } from "../../src/kernel/bus/errors.ts";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { createNatsBus } from "../../src/kernel/bus/nats.ts";
import { ERROR_HEADER } from "../../src/kernel/bus/rpc.ts";
import {
  STREAM_CONTROL_HEADER,
  STREAM_HEADER,
  STREAM_HEARTBEAT_HEADER,
  STREAM_SEQ_HEADER,
  STREAM_TO_HEADER,
  StreamLostError,
  openStream,
  serveStreams,
  type StreamOpen,
} from "../../src/kernel/bus/stream.ts";
import type { Bus } from "../../src/kernel/bus/types.ts";
import { startNats, type NatsServer } from "../../scripts/devservers/nats.ts";
import { AppError } from "../../src/kernel/errors.ts";
import { eventually } from "../helpers/eventually.ts";

/** Collects an iterator until it ends; returns the items and the error it threw, if any. */
async function drainIt<T>(it: AsyncIterable<T>): Promise<{ items: T[]; error: unknown }> {
  const items: T[] = [];
  try {
    for await (const x of it) items.push(x);
    return { items, error: undefined };
  } catch (error) {
    return { items, error };
  }
}

/** A source the test pushes to, recording whether the server gave it back (`return()`). */
function source<T>() {
  let returned = false;
  const ch = new Channel<T>({ onClose: () => (returned = true) });
  return { ch, returned: () => returned };
}

let seq = 0;
const subject = (): string => `test.stream.${++seq}.${crypto.randomUUID().slice(0, 8)}`;

function streamSuite(name: string, sides: () => Promise<{ server: Bus; client: Bus; close(): Promise<void> }>): void {
  describe(`bus streams [${name}]`, () => {
    let server: Bus;
    let client: Bus;
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ server, client, close } = await sides());
    }, 60_000);
    afterAll(async () => {
      await close();
    });

    test("items flow in order with the request's headers; the source completing ends the client's iterator", async () => {
      const s = subject();
      let seenHeaders: Record<string, string> = {};
      const srv = serveStreams<{ n: number }, number>(
        server,
        s,
        async (req, meta) => {
          seenHeaders = meta.headers;
          return {
            stream: (async function* () {
              for (let i = 1; i <= req.n; i++) yield i;
            })(),
          };
        },
        { queue: "q" },
      );
      await server.flush();
      const opened = await openStream<number>(client, s, { n: 50 }, { headers: { "x-who": "tester" } });
      if (!("stream" in opened)) throw new Error("expected a stream");
      const { items, error } = await drainIt(opened.stream);
      expect(error).toBeUndefined();
      expect(items).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(seenHeaders["x-who"]).toBe("tester");
      await eventually("srv.openStreams === 0", () => srv.openStreams === 0);
      srv.unsubscribe();
    });

    test("a handler answering once gives { result }; AppErrors keep their code, other errors are masked", async () => {
      const s = subject();
      const srv = serveStreams<{ mode: string }, string>(server, s, async (req): Promise<StreamOpen<string>> => {
        if (req.mode === "once") return { result: "just this" };
        if (req.mode === "app") throw new AppError("UNAUTHENTICATED", "authentication required");
        throw new Error("secret internals");
      });
      await server.flush();
      expect(await openStream(client, s, { mode: "once" })).toEqual({ result: "just this" });
      const app = await openStream(client, s, { mode: "app" }).catch((e: unknown) => e);
      expect(app).toBeInstanceOf(AppError);
      expect((app as AppError).code).toBe("UNAUTHENTICATED");
      const bug = await openStream(client, s, { mode: "bug" }).catch((e: unknown) => e);
      expect((bug as AppError).code).toBe("INTERNAL_SERVER_ERROR");
      expect((bug as AppError).message).not.toContain("secret");
      srv.unsubscribe();
    });

    test("a source failing mid-stream: the client gets the items before, then the AppError", async () => {
      const s = subject();
      const srv = serveStreams<null, number>(server, s, async () => ({
        stream: (async function* () {
          yield 1;
          yield 2;
          throw new AppError("OUT_OF_STOCK", "gone", { productId: "p" });
        })(),
      }));
      await server.flush();
      const opened = await openStream<number>(client, s, null);
      if (!("stream" in opened)) throw new Error("expected a stream");
      const { items, error } = await drainIt(opened.stream);
      expect(items).toEqual([1, 2]);
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe("OUT_OF_STOCK");
      expect((error as AppError).details).toEqual({ productId: "p" });
      srv.unsubscribe();
    });

    test("the client leaving (return) cancels: the server gives its source back", async () => {
      const s = subject();
      const src = source<number>();
      const srv = serveStreams<null, number>(server, s, async () => ({ stream: src.ch }));
      await server.flush();
      const opened = await openStream<number>(client, s, null);
      if (!("stream" in opened)) throw new Error("expected a stream");
      src.ch.push(7);
      expect((await opened.stream.next()).value).toBe(7);
      await opened.stream.return?.();
      await eventually("src.returned()", () => src.returned());
      await eventually("srv.openStreams === 0", () => srv.openStreams === 0);
      srv.unsubscribe();
    });

    test("a dead client (no heartbeats) is detected: the server gives its source back", async () => {
      const s = subject();
      const src = source<number>();
      const ends: string[] = [];
      const srv = serveStreams<null, number>(server, s, async () => ({ stream: src.ch }), {
        heartbeatMs: 20,
        onStreamEnd: (_m, why) => void ends.push(why),
      });
      await server.flush();
      // A client that opens the stream, then never sends anything again (its process died).
      const inbox = `_INBOX.dead.${crypto.randomUUID().slice(0, 8)}`;
      const reply = await client.request(s, encodeJson(null), { headers: { [STREAM_TO_HEADER]: inbox, [STREAM_HEARTBEAT_HEADER]: "20" } });
      expect(reply.headers[STREAM_HEADER]).toBe("open");
      await eventually("src.returned()", () => src.returned());
      expect(ends).toEqual(["client-lost"]);
      expect(srv.openStreams).toBe(0);
      srv.unsubscribe();
    });

    test("a dead server (no heartbeats) ends the client's iterator with StreamLostError", async () => {
      const s = subject();
      // A server that opens the stream and then falls silent (its process died).
      const fake = server.subscribe(s, (m) => {
        m.respond(undefined, {
          headers: {
            [STREAM_HEADER]: "open",
            [STREAM_CONTROL_HEADER]: `_INBOX.ctl.${crypto.randomUUID().slice(0, 8)}`,
            [STREAM_HEARTBEAT_HEADER]: "20",
          },
        });
      });
      await server.flush();
      const opened = await openStream<number>(client, s, null, { heartbeatMs: 20 });
      if (!("stream" in opened)) throw new Error("expected a stream");
      const { error } = await drainIt(opened.stream);
      expect(error).toBeInstanceOf(StreamLostError);
      fake.unsubscribe();
    });

    test("a lost message (sequence gap) ends the client's iterator with StreamLostError and cancels", async () => {
      const s = subject();
      const control = `_INBOX.ctl.${crypto.randomUUID().slice(0, 8)}`;
      const kinds: string[] = [];
      const ctl = server.subscribe(control, (m) => void kinds.push(m.headers[STREAM_HEADER] ?? ""));
      const fake = server.subscribe(s, (m) => {
        const to = m.headers[STREAM_TO_HEADER] as string;
        m.respond(undefined, { headers: { [STREAM_HEADER]: "open", [STREAM_CONTROL_HEADER]: control, [STREAM_HEARTBEAT_HEADER]: "5000" } });
        server.publish(to, encodeJson(1), { headers: { [STREAM_HEADER]: "next", [STREAM_SEQ_HEADER]: "1" } });
        server.publish(to, encodeJson(3), { headers: { [STREAM_HEADER]: "next", [STREAM_SEQ_HEADER]: "3" } });
      });
      await server.flush();
      const opened = await openStream<number>(client, s, null);
      if (!("stream" in opened)) throw new Error("expected a stream");
      const { items, error } = await drainIt(opened.stream);
      expect(items).toEqual([1]);
      expect(error).toBeInstanceOf(StreamLostError);
      await eventually('kinds.includes("cancel")', () => kinds.includes("cancel"));
      fake.unsubscribe();
      ctl.unsubscribe();
    });

    test("a server-side error end carries its code", async () => {
      const s = subject();
      const fake = server.subscribe(s, (m) => {
        const to = m.headers[STREAM_TO_HEADER] as string;
        m.respond(undefined, {
          headers: { [STREAM_HEADER]: "open", [STREAM_CONTROL_HEADER]: "_INBOX.nobody", [STREAM_HEARTBEAT_HEADER]: "5000" },
        });
        server.publish(to, encodeJson({ message: "bye" }), {
          headers: { [STREAM_HEADER]: "end", [STREAM_SEQ_HEADER]: "1", [ERROR_HEADER]: "SERVICE_UNAVAILABLE" },
        });
      });
      await server.flush();
      const opened = await openStream<number>(client, s, null);
      if (!("stream" in opened)) throw new Error("expected a stream");
      const { error } = await drainIt(opened.stream);
      expect((error as AppError).code).toBe("SERVICE_UNAVAILABLE");
      fake.unsubscribe();
    });

    test("draining the server ends open streams with SERVICE_UNAVAILABLE (clients subscribe again)", async () => {
      const s = subject();
      const src = source<number>();
      const srv = serveStreams<null, number>(server, s, async () => ({ stream: src.ch }));
      await server.flush();
      const opened = await openStream<number>(client, s, null);
      if (!("stream" in opened)) throw new Error("expected a stream");
      src.ch.push(1);
      await srv.drain();
      const { items, error } = await drainIt(opened.stream);
      expect(items).toEqual([1]);
      expect((error as AppError).code).toBe("SERVICE_UNAVAILABLE");
      expect(src.returned()).toBe(true);
    });

    test("a consumer falling more than maxBuffered behind fails with ChannelOverflowError and cancels the server side", async () => {
      const s = subject();
      const src = source<number>();
      const srv = serveStreams<null, number>(server, s, async () => ({ stream: src.ch }));
      await server.flush();
      const opened = await openStream<number>(client, s, null, { maxBuffered: 5 });
      if (!("stream" in opened)) throw new Error("expected a stream");
      for (let i = 0; i < 20; i++) src.ch.push(i);
      await eventually("src.returned()", () => src.returned());
      const { items, error } = await drainIt(opened.stream);
      expect(items).toEqual([0, 1, 2, 3, 4]);
      expect(error).toBeInstanceOf(ChannelOverflowError);
      srv.unsubscribe();
    });

    test("nobody serving the subject: NoRespondersError", async () => {
      const err = await openStream(client, subject(), null, { timeoutMs: 2000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NoRespondersError);
    });
  });
}

streamSuite("memory", async () => {
  const bus = createMemoryBus();
  return { server: bus, client: bus, close: () => bus.close() };
});

let nats: NatsServer | undefined;
afterAll(async () => {
  await nats?.stop();
});
streamSuite("nats", async () => {
  nats ??= await startNats();
  const server = await createNatsBus({ servers: [nats.url], name: "stream-server" });
  const client = await createNatsBus({ servers: [nats.url], name: "stream-client" });
  return {
    server,
    client,
    close: async () => {
      await server.close();
      await client.close();
    },
  };
});
