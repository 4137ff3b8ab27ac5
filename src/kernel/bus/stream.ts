/**
 * Streams over the bus: one request opens a stream of JSON items from a responder (a GraphQL
 * subscription from the gateway to a subgraph). Built on the {@link Bus} interface only, so it
 * behaves the same on the memory bus and on NATS.
 *
 * Protocol (every control field is a header, the body is always the JSON payload):
 *
 * 1. The client subscribes to a fresh inbox `S`, then sends a request on the served subject
 *    with headers `sy-stream-to: S` and `sy-stream-heartbeat: <its interval, ms>` (plus its
 *    own headers, e.g. identity and request id). Queue groups pick one server instance.
 * 2. The server replies either
 *    - `sy-stream: result`, body = one item: no stream (e.g. a GraphQL error at subscribe time);
 *    - `sy-stream: open`, `sy-stream-control: C`, `sy-stream-heartbeat: <ms>`: the stream is open
 *      and the server listens for the client on `C`;
 *    - an error reply (`sy-error: <code>`, as {@link ./rpc.ts}): the open failed.
 * 3. The server publishes to `S`, each with `sy-stream-seq` = 1, 2, 3, ...:
 *    `sy-stream: next` (body = item), `sy-stream: ping` (heartbeat), and finally
 *    `sy-stream: end` (without `sy-error`: completed; with it: failed, body `{ message }`).
 * 4. The client publishes to `C`: `sy-stream: ping` (heartbeat) and `sy-stream: cancel` (the
 *    consumer left; the server stops the source).
 *
 * Liveness: each side sends a ping every heartbeat interval and treats the other as dead after
 * {@link MISSED_HEARTBEATS} of the other's intervals without any message. A dead client (its
 * gateway crashed) makes the server stop the source, so nothing leaks; a dead server (its
 * module instance crashed) or a gap in the sequence numbers (core NATS dropped a message for a
 * slow consumer) ends the client's stream with {@link StreamLostError}.
 */

import { AppError, ErrorCode } from "../errors.ts";
import { Channel } from "./channel.ts";
import { decodeJson, encodeJson } from "./codec.ts";
import { BusClosedError, BusError } from "./errors.ts";
import { ERROR_HEADER, type RequestMeta, type UnexpectedErrorHook } from "./rpc.ts";
import type { Bus, Headers, Msg, Subscription } from "./types.ts";

/** Header naming the kind of a stream message (`open`, `result`, `next`, `end`, `ping`, `cancel`). */
export const STREAM_HEADER = "sy-stream";
/** Open request: the inbox the server publishes the stream to. */
export const STREAM_TO_HEADER = "sy-stream-to";
/** Open reply: the subject the client sends `ping`/`cancel` to. */
export const STREAM_CONTROL_HEADER = "sy-stream-control";
/** Open request and reply: the sender's heartbeat interval, ms. */
export const STREAM_HEARTBEAT_HEADER = "sy-stream-heartbeat";
/** Server → client messages: sequence number from 1, to detect lost messages. */
export const STREAM_SEQ_HEADER = "sy-stream-seq";
/** Silent heartbeat intervals after which a peer is considered dead. */
export const MISSED_HEARTBEATS = 3;
/** Default heartbeat interval, ms. */
export const DEFAULT_HEARTBEAT_MS = 5000;

/** What a stream handler returns: a stream of items, or one item and no stream. */
export type StreamOpen<Item> = { stream: AsyncIterable<Item> } | { result: Item };

/** A stream could not continue: the peer stopped answering, or messages were lost. */
export class StreamLostError extends BusError {
  constructor(
    readonly subject: string,
    reason: string,
  ) {
    super("STREAM_LOST", `stream from "${subject}" lost: ${reason}`);
  }
}

/** Error body of an `end` message or an error reply. */
interface ErrorBody {
  message: string;
  details?: Record<string, unknown>;
}

/** A fresh inbox under the bus's inbox prefix (each NATS user may only receive on its own prefix). */
const newInbox = (bus: Bus): string => bus.newInbox?.() ?? `_INBOX.${crypto.randomUUID().replaceAll("-", "")}`;

/** Parses a heartbeat header; falls back to the default for a missing or absurd value. */
function heartbeatOf(headers: Headers): number {
  const n = Number(headers[STREAM_HEARTBEAT_HEADER]);
  return Number.isFinite(n) && n >= 10 && n <= 600_000 ? n : DEFAULT_HEARTBEAT_MS;
}

/** Publishes, ignoring a closed bus (a stream ending during shutdown has nobody left to tell). */
function publishQuietly(bus: Bus, subject: string, data: Uint8Array | undefined, headers: Headers): void {
  try {
    bus.publish(subject, data, { headers });
  } catch (err) {
    if (!(err instanceof BusClosedError)) throw err;
  }
}

export interface ServeStreamsOptions {
  /** Queue group, so that N instances share the streams (each stream lives on one instance). */
  queue?: string;
  /** This side's heartbeat interval, ms (default {@link DEFAULT_HEARTBEAT_MS}). */
  heartbeatMs?: number;
  /** Called for errors that are not AppErrors (bugs), before they are masked. */
  onUnexpected?: UnexpectedErrorHook;
  /** Called when a stream ends, with why (for logs and statistics). */
  onStreamEnd?: (meta: RequestMeta, why: "completed" | "failed" | "cancelled" | "client-lost" | "shutdown") => void;
}

/** The server side: a subscription that also ends the streams it opened. */
export interface StreamServer extends Subscription {
  /** Streams open right now. */
  readonly openStreams: number;
}

interface ServerStream {
  /** Ends the stream from the server side: stops the source and, unless the client is gone, tells it. */
  stop(why: "cancelled" | "client-lost" | "shutdown"): void;
}

/**
 * Serves streams on `subject`. `handler` decides per request: `{ stream }` opens a stream,
 * `{ result }` answers once; a thrown `AppError` is an error reply with its code, anything
 * else is masked as `INTERNAL_SERVER_ERROR` (and reported to `onUnexpected`). An item source
 * that throws ends the stream with the error (AppErrors keep their code).
 *
 * `unsubscribe`/`drain` stop accepting new streams and end every open stream with
 * `SERVICE_UNAVAILABLE` ("instance shutting down": the client may open it again; another
 * instance will serve it).
 */
export function serveStreams<Req, Item>(
  bus: Bus,
  subject: string,
  handler: (req: Req, meta: RequestMeta) => Promise<StreamOpen<Item>>,
  opts: ServeStreamsOptions = {},
): StreamServer {
  const heartbeatMs = opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const open = new Set<ServerStream>();

  const startStream = (msg: Msg, to: string, meta: RequestMeta, source: AsyncIterable<Item>): void => {
    const control = newInbox(bus);
    const clientHeartbeatMs = heartbeatOf(msg.headers);
    const iterator = source[Symbol.asyncIterator]();
    let seq = 0;
    let lastHeard = performance.now();
    let done = false;
    const send = (kind: string, data?: Uint8Array, extra: Headers = {}): void => {
      publishQuietly(bus, to, data, { [STREAM_HEADER]: kind, [STREAM_SEQ_HEADER]: String(++seq), ...extra });
    };
    const finish = (why: Parameters<NonNullable<ServeStreamsOptions["onStreamEnd"]>>[1]): void => {
      if (done) return;
      done = true;
      clearInterval(timer);
      controlSub.unsubscribe();
      open.delete(stream);
      opts.onStreamEnd?.(meta, why);
    };
    const stopSource = (): void => {
      // Settles a pending `next()` of well-behaved sources (generators, Channel) with done.
      void Promise.resolve()
        .then(() => iterator.return?.())
        .catch(() => {});
    };
    const stream: ServerStream = {
      stop(why) {
        if (done) return;
        if (why === "shutdown") {
          const body: ErrorBody = { message: "subgraph instance shutting down; subscribe again" };
          send("end", encodeJson(body), { [ERROR_HEADER]: ErrorCode.SERVICE_UNAVAILABLE });
        }
        finish(why);
        stopSource();
      },
    };
    const controlSub = bus.subscribe(control, (m) => {
      lastHeard = performance.now();
      if (m.headers[STREAM_HEADER] === "cancel") stream.stop("cancelled");
    });
    const timer = setInterval(() => {
      if (performance.now() - lastHeard > MISSED_HEARTBEATS * clientHeartbeatMs) {
        stream.stop("client-lost");
        return;
      }
      send("ping");
    }, heartbeatMs);
    open.add(stream);
    msg.respond(undefined, {
      headers: { [STREAM_HEADER]: "open", [STREAM_CONTROL_HEADER]: control, [STREAM_HEARTBEAT_HEADER]: String(heartbeatMs) },
    });

    void (async () => {
      try {
        for (;;) {
          const r = await iterator.next();
          if (done) return;
          if (r.done) break;
          send("next", encodeJson(r.value ?? null));
        }
        send("end");
        finish("completed");
      } catch (err) {
        if (done) return;
        const code = err instanceof AppError ? err.code : ErrorCode.INTERNAL;
        if (!(err instanceof AppError)) opts.onUnexpected?.(err, meta);
        const body: ErrorBody =
          err instanceof AppError
            ? { message: err.message, ...(err.details ? { details: err.details } : {}) }
            : { message: "internal error" };
        send("end", encodeJson(body), { [ERROR_HEADER]: code });
        finish("failed");
      }
    })();
  };

  let closing = false;
  const sub = bus.subscribe(
    subject,
    async (msg: Msg) => {
      const meta: RequestMeta = { subject: msg.subject, headers: msg.headers };
      const to = msg.headers[STREAM_TO_HEADER];
      try {
        if (!to) throw new AppError(ErrorCode.BAD_USER_INPUT, `stream request without ${STREAM_TO_HEADER}`);
        const req = msg.data.length ? msg.json<Req>() : (undefined as Req);
        const opened = await handler(req, meta);
        if ("result" in opened) {
          msg.respond(encodeJson(opened.result ?? null), { headers: { [STREAM_HEADER]: "result" } });
          return;
        }
        if (closing) {
          // Drained while the handler ran: give the source back rather than leak it.
          void Promise.resolve(opened.stream[Symbol.asyncIterator]().return?.()).catch(() => {});
          throw new AppError(ErrorCode.SERVICE_UNAVAILABLE, "subgraph instance shutting down; subscribe again");
        }
        startStream(msg, to, meta, opened.stream);
      } catch (err) {
        if (!(err instanceof AppError)) opts.onUnexpected?.(err, meta);
        const code = err instanceof AppError ? err.code : ErrorCode.INTERNAL;
        const body: ErrorBody =
          err instanceof AppError
            ? { message: err.message, ...(err.details ? { details: err.details } : {}) }
            : { message: "internal error" };
        msg.respond(encodeJson(body), { headers: { [ERROR_HEADER]: code } });
      }
    },
    opts.queue ? { queue: opts.queue } : {},
  );

  const shutdown = (): void => {
    closing = true;
    for (const s of [...open]) s.stop("shutdown");
  };
  return {
    subject,
    ...(opts.queue ? { queue: opts.queue } : {}),
    get openStreams() {
      return open.size;
    },
    unsubscribe() {
      sub.unsubscribe();
      shutdown();
    },
    async drain() {
      // Stop taking new streams first (open requests already routed still finish), then end the open ones.
      await sub.drain();
      shutdown();
    },
  };
}

export interface OpenStreamOptions {
  /** Headers of the open request (identity, request id, ...). */
  headers?: Headers;
  /** Time to wait for the open reply, ms (default 5000). */
  timeoutMs?: number;
  /** This side's heartbeat interval, ms (default {@link DEFAULT_HEARTBEAT_MS}). */
  heartbeatMs?: number;
  /** Items buffered for a slow consumer before the stream fails (default 1000). */
  maxBuffered?: number;
}

/** What {@link openStream} resolves to: one result, or a stream to iterate. */
export type OpenedStream<Item> = { result: Item } | { stream: AsyncIterableIterator<Item> };

/**
 * Opens a stream on `subject` with a JSON `body`. The returned iterator yields the server's
 * items; leaving it early (`break`, `return()`) cancels the stream on the server.
 *
 * @throws AppError with the server's code when it refused the stream; BusTimeoutError /
 *   NoRespondersError / BusClosedError from the open request.
 * The iterator throws AppError when the server ended the stream with an error (e.g.
 * `SERVICE_UNAVAILABLE` when the instance shuts down), {@link StreamLostError} when the
 * server stopped answering or messages were lost, `ChannelOverflowError` when the consumer
 * fell more than `maxBuffered` items behind.
 */
export async function openStream<Item>(
  bus: Bus,
  subject: string,
  body: unknown,
  opts: OpenStreamOptions = {},
): Promise<OpenedStream<Item>> {
  const heartbeatMs = opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const inbox = newInbox(bus);
  let control: string | undefined;
  let serverHeartbeatMs = DEFAULT_HEARTBEAT_MS;
  let expectedSeq = 1;
  let lastHeard = performance.now();
  let serverEnded = false;
  let timer: ReturnType<typeof setInterval> | undefined;

  const channel = new Channel<Item>({
    ...(opts.maxBuffered !== undefined ? { maxBuffered: opts.maxBuffered } : {}),
    onClose: () => {
      clearInterval(timer);
      inboxSub.unsubscribe();
      if (!serverEnded && control) publishQuietly(bus, control, undefined, { [STREAM_HEADER]: "cancel" });
    },
  });

  const inboxSub = bus.subscribe(inbox, (m) => {
    lastHeard = performance.now();
    const seq = Number(m.headers[STREAM_SEQ_HEADER]);
    if (seq !== expectedSeq) {
      channel.end(new StreamLostError(subject, `expected message ${expectedSeq}, got ${m.headers[STREAM_SEQ_HEADER] ?? "none"}`));
      return;
    }
    expectedSeq++;
    switch (m.headers[STREAM_HEADER]) {
      case "next":
        channel.push(m.json<Item>());
        return;
      case "end": {
        serverEnded = true;
        const code = m.headers[ERROR_HEADER];
        if (!code) return channel.end();
        const err = decodeJson<ErrorBody>(m.data);
        channel.end(new AppError(code, err.message, err.details));
        return;
      }
      default:
        return; // ping: liveness only
    }
  });

  let reply: Msg;
  try {
    reply = await bus.request(subject, encodeJson(body ?? null), {
      timeoutMs: opts.timeoutMs ?? 5000,
      headers: { ...opts.headers, [STREAM_TO_HEADER]: inbox, [STREAM_HEARTBEAT_HEADER]: String(heartbeatMs) },
    });
  } catch (err) {
    serverEnded = true;
    channel.end();
    throw err;
  }
  const code = reply.headers[ERROR_HEADER];
  if (code) {
    serverEnded = true;
    channel.end();
    const err = decodeJson<ErrorBody>(reply.data);
    throw new AppError(code, err.message, err.details);
  }
  if (reply.headers[STREAM_HEADER] !== "open") {
    serverEnded = true;
    channel.end();
    return { result: reply.json<Item>() };
  }
  control = reply.headers[STREAM_CONTROL_HEADER];
  serverHeartbeatMs = heartbeatOf(reply.headers);
  if (!control) {
    channel.end();
    throw new StreamLostError(subject, `open reply without ${STREAM_CONTROL_HEADER}`);
  }
  if (channel.ended) {
    // Failed before the open reply arrived (a gap, an overflow): the server still needs the cancel.
    if (!serverEnded) publishQuietly(bus, control, undefined, { [STREAM_HEADER]: "cancel" });
  } else {
    const ctl = control;
    timer = setInterval(() => {
      if (performance.now() - lastHeard > MISSED_HEARTBEATS * serverHeartbeatMs) {
        serverEnded = true;
        channel.end(new StreamLostError(subject, `no message for ${MISSED_HEARTBEATS} heartbeats`));
        return;
      }
      publishQuietly(bus, ctl, undefined, { [STREAM_HEADER]: "ping" });
    }, heartbeatMs);
  }
  return { stream: channel };
}
