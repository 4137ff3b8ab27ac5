/**
 * NATS bus transport (split mode): the {@link Bus} interface over a real nats-server with the
 * `nats` client (nats.js v2). It passes the same contract suite as the memory transport
 * (tests/contract/bus.contract.ts); the differences left are NATS's own:
 * - header values are trimmed and may not contain CR/LF, header keys must be printable ASCII
 *   without `:` (NATS headers are MIME-style: https://github.com/nats-io/nats-architecture-and-design/blob/main/adr/ADR-4.md);
 *   key case is kept exactly as sent (nats.js `Match.Exact`);
 * - a SUB only takes effect once the server read it: `flush()` after subscribing before relying
 *   on another client's publish reaching it;
 * - nats.js v2 does NOT keep what is published while it is disconnected (every dial attempt
 *   resets its outbound buffer), so this transport does, like the Go client's reconnect buffer:
 *   publishes made while disconnected are queued (up to `reconnectBufferBytes`) and sent, in
 *   order, once reconnected; requests wait for the reconnect within their own `timeoutMs`, then
 *   fail with BusTimeoutError. Messages already in the socket when the server died are lost, as
 *   core NATS is at-most-once.
 *
 * Protocol: https://docs.nats.io/reference/reference-protocols/nats-protocol ; no responders
 * (status 503): https://docs.nats.io/nats-concepts/core-nats/reqreply#no-responders ; drain:
 * https://docs.nats.io/using-nats/developer/receiving/drain .
 */

import { readFile } from "node:fs/promises";
import {
  DebugEvents,
  ErrorCode,
  Events,
  NatsError,
  connect,
  createInbox,
  credsAuthenticator,
  headers as natsHeaders,
  type ConnectionOptions,
  type Msg as NatsMsg,
  type MsgHdrs,
  type NatsConnection,
  type Status,
  type Subscription as NatsSubscription,
} from "nats";
import { EMPTY, JsonPayload } from "./codec.ts";
import { BusClosedError, BusError, BusTimeoutError, InvalidSubjectError, NoRespondersError } from "./errors.ts";
import { validatePattern, validateSubject } from "./subject.ts";
import type { Bus, Headers, Msg, MsgHandler, Payload, PublishOptions, RequestOptions, SubscribeOptions, Subscription } from "./types.ts";
import { BusMsg, DEFAULT_REQUEST_TIMEOUT_MS, requestTimeoutMs } from "./msg.ts";
import { Inflight, OPEN, DRAINING, CLOSED, type TransportState as State } from "./inflight.ts";

/** The subset of a pino logger the NATS bus uses: `(fields, message)`. */
export interface NatsBusLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** TLS files (PEM paths) handed to nats.js, which reads them itself. */
export interface NatsTlsOptions {
  /** CA bundle used to verify the server. */
  caFile?: string;
  /** Client certificate (mutual TLS); needs `keyFile`. */
  certFile?: string;
  /** Client private key (mutual TLS). */
  keyFile?: string;
}

export interface NatsBusOptions {
  /** Server URLs, e.g. `["nats://127.0.0.1:4222"]`; nats.js picks one and fails over to the others. */
  servers: string[];
  /** Connection name shown by the server (`/connz`), e.g. `"switchyard-catalog"`. */
  name: string;
  /** Token authentication. */
  token?: string;
  /** User/password authentication. */
  user?: string;
  pass?: string;
  /**
   * Prefix of every inbox this connection receives on (nats.js `inboxPrefix`; default `_INBOX`),
   * e.g. `_INBOX.catalog`: request replies, JetStream deliveries and bus streams. With per-part
   * NATS permissions a part may subscribe only below its own prefix (see nats-permissions.ts).
   */
  inboxPrefix?: string;
  /** Path to a `.creds` file (JWT + NKey seed, env NATS_CREDS); read once at connect. */
  credsFile?: string;
  tls?: NatsTlsOptions;
  /** Receives handler errors and connection status changes. */
  logger?: NatsBusLogger;
  /** Reconnect attempts per server after a disconnect; -1 (default) = forever. */
  maxReconnectAttempts?: number;
  /** Wait between reconnect attempts to the same server, ms; default 250. */
  reconnectTimeWaitMs?: number;
  /** Time allowed for the initial connection, ms; default 10000. */
  connectTimeoutMs?: number;
  /**
   * Cap on the protocol part of `drain` (UNSUB + PING/PONG round trips), ms; default 5000. Only
   * matters while the server is unreachable (the round trips would wait for a reconnect); running
   * handlers are always awaited in full.
   */
  drainTimeoutMs?: number;
  /**
   * Bytes (payload + subject + headers) of publishes kept while disconnected, sent once
   * reconnected; default 8 MiB (the Go client's `ReconnectBufSize`). Beyond it `publish` throws
   * BusError `BUS_RECONNECT_BUFFER_FULL`.
   */
  reconnectBufferBytes?: number;
}

/** A {@link Bus} backed by a NATS connection. */
export interface NatsBus extends Bus {
  /** The underlying nats.js connection (for JetStream); do not close it directly, use the bus. */
  readonly connection: NatsConnection;
}

/** Resolves when `promise` settles or after `ms`, whichever is first; true when it settled in time. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timedOut,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null && (typeof value === "object" || typeof value === "function") && typeof (value as { then?: unknown }).then === "function"
  );
}

/** Connection state as the status events report it; 'closed' is final. */
export type LinkState = "connected" | "disconnected" | "closed";

/**
 * Tracks whether a nats.js connection is up, from its status events
 * (https://docs.nats.io/using-nats/developer/events/events), so callers can hold work until a
 * reconnect instead of handing it to a client that would drop it. One per connection
 * ({@link natsLink}); the bus and JetStream events share it.
 */
export class NatsLink {
  #state: LinkState = "connected";
  #waiters = new Set<() => void>();
  readonly #reconnectHooks = new Set<() => void>();
  readonly #statusHooks = new Set<(s: Status) => void>();

  constructor(nc: NatsConnection) {
    if (nc.isClosed()) this.#state = "closed";
    void this.#watch(nc);
    void nc.closed().then(() => this.#set("closed"));
  }

  get state(): LinkState {
    return this.#state;
  }

  /** Runs `hook` on every reconnect, before waiters wake (so queued work goes out first). */
  onReconnect(hook: () => void): () => void {
    this.#reconnectHooks.add(hook);
    return () => this.#reconnectHooks.delete(hook);
  }

  /** Runs `hook` for every status event (for logging). */
  onStatus(hook: (s: Status) => void): () => void {
    this.#statusHooks.add(hook);
    return () => this.#statusHooks.delete(hook);
  }

  /** Resolves with the state once it is not "disconnected", or "disconnected" after `ms`. */
  waitUp(ms: number): Promise<LinkState> {
    if (this.#state !== "disconnected") return Promise.resolve(this.#state);
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve(this.#state);
      };
      const timer = setTimeout(wake, ms);
      this.#waiters.add(wake);
    });
  }

  #set(state: LinkState): void {
    if (this.#state === "closed") return;
    if (state === "connected") {
      for (const hook of this.#reconnectHooks) hook();
    }
    this.#state = state;
    if (state !== "disconnected") for (const wake of [...this.#waiters]) wake();
  }

  async #watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === Events.Disconnect) this.#set("disconnected");
      else if (s.type === Events.Reconnect) this.#set("connected");
      for (const hook of this.#statusHooks) {
        try {
          hook(s);
        } catch {
          // Logging hooks must not stop state tracking.
        }
      }
    }
  }
}

const links = new WeakMap<NatsConnection, NatsLink>();

/** The shared {@link NatsLink} of a connection (created on first use). */
export function natsLink(nc: NatsConnection): NatsLink {
  let link = links.get(nc);
  if (link === undefined) links.set(nc, (link = new NatsLink(nc)));
  return link;
}

function natsCode(err: unknown): string | undefined {
  return err instanceof NatsError ? err.code : undefined;
}

/**
 * Maps a nats.js error to the bus's typed errors. `subject`/`timeoutMs` feed the request errors.
 * Errors that already are BusErrors (or not NatsErrors at all, e.g. RangeError) pass through.
 */
export function mapNatsError(err: unknown, subject: string, timeoutMs = 0): Error {
  if (err instanceof BusError) return err;
  const code = natsCode(err);
  if (code === undefined) return err instanceof Error ? err : new BusError("BUS_ERROR", String(err));
  switch (code) {
    case ErrorCode.NoResponders:
      return new NoRespondersError(subject);
    case ErrorCode.Timeout:
      return new BusTimeoutError(subject, timeoutMs);
    case ErrorCode.ConnectionClosed:
    case ErrorCode.ConnectionDraining:
      return new BusClosedError();
    case ErrorCode.BadSubject:
      return new InvalidSubjectError(subject, (err as NatsError).message);
    default: {
      const mapped = new BusError(`NATS_${code.replace(/[^A-Za-z0-9]+/g, "_").toUpperCase()}`, (err as NatsError).message);
      (mapped as { cause?: unknown }).cause = err;
      return mapped;
    }
  }
}

/** Our header record to nats.js headers, keeping key case (`Match.Exact` is nats.js's default). */
function toNatsHeaders(h: Headers | undefined): MsgHdrs | undefined {
  if (h === undefined) return undefined;
  let out: MsgHdrs | undefined;
  for (const key in h) {
    const value = h[key];
    if (value === undefined) continue;
    out ??= natsHeaders();
    try {
      out.set(key, value);
    } catch (err) {
      // nats.js rejects keys with ':'/control chars and values with CR/LF (they would break framing).
      throw mapNatsError(err, "");
    }
  }
  return out;
}

/** nats.js headers to our record. Repeated keys (other clients may send them) join with ", " as HTTP does. */
export function fromNatsHeaders(h: MsgHdrs | undefined): Headers {
  const out: Headers = {};
  if (h === undefined) return out;
  for (const [key, values] of h) out[key] = values.length === 1 ? (values[0] ?? "") : values.join(", ");
  return out;
}

/**
 * Copies the payload: nats.js queues the caller's array and writes it in a later microtask.
 * A {@link JsonPayload} is encoded (fresh bytes nobody else holds: no copy needed).
 * @throws TypeError when a JSON payload has no JSON form.
 */
function copyBytes(data: Payload | undefined): Uint8Array {
  if (data instanceof JsonPayload) return data.bytes();
  if (data === undefined || data.length === 0) return EMPTY;
  const copy = new Uint8Array(data.length);
  copy.set(data);
  return copy;
}

function toMsg(m: NatsMsg, bus: NatsBusImpl): BusMsg {
  const reply = m.reply === undefined || m.reply === "" ? undefined : m.reply;
  return new BusMsg(m.subject, m.data.length === 0 ? EMPTY : m.data, fromNatsHeaders(m.headers), reply, bus);
}

class NatsBusSubscription implements Subscription {
  state: State = OPEN;
  readonly inflight = new Inflight();
  #drained: Promise<void> | undefined;
  /** Set right after the nats.js subscription exists (the callback never runs before that). */
  native!: NatsSubscription;

  constructor(
    readonly subject: string,
    readonly queue: string | undefined,
    private readonly forget: (sub: NatsBusSubscription) => void,
    private readonly drainTimeoutMs: number,
  ) {}

  unsubscribe(): void {
    if (this.state === CLOSED) return;
    this.state = CLOSED;
    this.forget(this);
    try {
      this.native.unsubscribe();
    } catch {
      // The connection is already closed: there is nothing left to unsubscribe from.
    }
  }

  /**
   * Stops delivery (UNSUB, then a PING/PONG so messages the server sent before it are handled),
   * then waits for running handlers. Do not await it inside this subscription's own handler.
   */
  drain(): Promise<void> {
    if (this.#drained !== undefined) return this.#drained;
    if (this.state === CLOSED) return this.inflight.idle();
    this.state = DRAINING;
    this.#drained = this.#finishDrain();
    return this.#drained;
  }

  async #finishDrain(): Promise<void> {
    let native: Promise<void>;
    try {
      native = this.native.drain();
    } catch {
      // Closed connection or subscription: no more messages can arrive anyway.
      native = Promise.resolve();
    }
    // Rejections (closed connection) mean nothing more can arrive; a disconnect would stall the PING.
    await settledWithin(native, this.drainTimeoutMs);
    await this.inflight.idle();
    if (this.state !== CLOSED) {
      this.state = CLOSED;
      this.forget(this);
    }
  }
}

interface PendingRequest {
  reject(err: Error): void;
}

/** A publish held while disconnected. */
interface Buffered {
  subject: string;
  data: Uint8Array;
  reply: string | undefined;
  headers: MsgHdrs | undefined;
  bytes: number;
}

class NatsBusImpl implements NatsBus {
  readonly transport = "nats";
  readonly connection: NatsConnection;

  readonly #logger: NatsBusLogger | undefined;
  readonly #drainTimeoutMs: number;
  readonly #link: NatsLink;
  readonly #bufferLimit: number;
  readonly #inboxPrefix: string | undefined;
  /** Publishes made while disconnected, sent in order on reconnect. */
  #buffer: Buffered[] = [];
  #bufferBytes = 0;
  #state: State = OPEN;
  #drain: Promise<void> | undefined;
  #close: Promise<void> | undefined;
  readonly #subs = new Set<NatsBusSubscription>();
  /** Async handlers still running, across all subscriptions (for `drain`). */
  readonly #inflight = new Inflight();
  /** Requests in flight, so `close` rejects them at once with BusClosedError. */
  readonly #pending = new Set<PendingRequest>();
  readonly #forget = (sub: NatsBusSubscription): void => {
    this.#subs.delete(sub);
  };

  constructor(nc: NatsConnection, logger: NatsBusLogger | undefined, drainTimeoutMs: number, bufferLimit: number, inboxPrefix?: string) {
    this.connection = nc;
    this.#inboxPrefix = inboxPrefix;
    this.#logger = logger;
    this.#drainTimeoutMs = drainTimeoutMs;
    this.#bufferLimit = bufferLimit;
    this.#link = natsLink(nc);
    this.#link.onStatus((st) => this.#logStatus(st));
    this.#link.onReconnect(() => this.#sendBuffered());
    // The connection can close on its own (reconnect attempts exhausted, auth revoked).
    void nc.closed().then((err) => {
      if (this.#state === CLOSED) return;
      // While draining, the close is the one drain() asked for (nc.drain() ends in a close): not an error.
      if (this.#state === OPEN || err) this.#log("error", { err, server: nc.getServer() }, "nats connection closed");
      this.#closeNow();
    });
  }

  get closed(): boolean {
    return this.#state !== OPEN;
  }

  /** A fresh inbox under the connection's inbox prefix. */
  newInbox(): string {
    return createInbox(this.#inboxPrefix);
  }

  /**
   * Publishes. While disconnected the message is kept (up to `reconnectBufferBytes`) and sent on
   * reconnect. Allowed while draining so running handlers can reply.
   * @throws BusClosedError once closed; InvalidSubjectError for a bad subject or reply subject;
   *   BusError `NATS_BAD_HEADER` / `NATS_MAX_PAYLOAD_EXCEEDED` for headers/payloads NATS cannot
   *   carry, `BUS_RECONNECT_BUFFER_FULL` when disconnected with a full buffer.
   */
  publish(subject: string, data?: Payload, opts?: PublishOptions): void {
    if (this.#state === CLOSED) throw new BusClosedError();
    validateSubject(subject);
    const reply = opts?.reply;
    if (reply !== undefined) validateSubject(reply);
    const headers = toNatsHeaders(opts?.headers);
    const payload = copyBytes(data);
    if (this.#link.state === "disconnected" || this.#buffer.length > 0) {
      // Also while the buffer still has items: keeps this message behind them.
      this.#hold({ subject, data: payload, reply, headers, bytes: payload.length + subject.length });
      return;
    }
    this.#send(subject, payload, reply, headers);
  }

  #send(subject: string, data: Uint8Array, reply: string | undefined, headers: MsgHdrs | undefined): void {
    try {
      this.connection.publish(subject, data, {
        ...(reply === undefined ? {} : { reply }),
        ...(headers === undefined ? {} : { headers }),
      });
    } catch (err) {
      throw mapNatsError(err, subject);
    }
  }

  #hold(item: Buffered): void {
    if (this.#bufferBytes + item.bytes > this.#bufferLimit) {
      throw new BusError(
        "BUS_RECONNECT_BUFFER_FULL",
        `disconnected from NATS and the reconnect buffer (${this.#bufferLimit} bytes) is full; "${item.subject}" not sent`,
      );
    }
    if (this.#buffer.length === 0) this.#log("warn", { subject: item.subject }, "nats disconnected; buffering publishes until reconnect");
    this.#buffer.push(item);
    this.#bufferBytes += item.bytes;
  }

  /** Runs on reconnect, before requests waiting for it resume. */
  #sendBuffered(): void {
    if (this.#buffer.length === 0) return;
    const items = this.#buffer;
    this.#buffer = [];
    this.#bufferBytes = 0;
    let sent = 0;
    for (const item of items) {
      try {
        this.#send(item.subject, item.data, item.reply, item.headers);
        sent++;
      } catch (err) {
        this.#log("warn", { err, subject: item.subject }, "buffered publish failed after reconnect");
      }
    }
    this.#log("info", { sent }, "nats reconnected; buffered publishes sent");
  }

  /**
   * Subscribes to a subject or pattern, optionally in a queue group. The SUB reaches the server
   * asynchronously: `await flush()` before relying on another client's publish.
   * @throws BusClosedError once closed or draining; InvalidSubjectError for a bad pattern or queue name.
   */
  subscribe(subject: string, handler: MsgHandler, opts?: SubscribeOptions): Subscription {
    if (this.#state !== OPEN) throw new BusClosedError();
    validatePattern(subject);
    const queue = opts?.queue;
    if (queue !== undefined && (queue.length === 0 || /\s/.test(queue))) {
      throw new InvalidSubjectError(subject, `invalid queue group name "${queue}"`);
    }
    const sub = new NatsBusSubscription(subject, queue, this.#forget, this.#drainTimeoutMs);
    try {
      sub.native = this.connection.subscribe(subject, {
        ...(queue === undefined ? {} : { queue }),
        // nats.js calls this synchronously from its socket reader, never on a publisher's stack.
        callback: (err, m) => {
          if (err !== null) {
            this.#log("warn", { err, subject, queue }, "bus subscription error");
            return;
          }
          if (sub.state === CLOSED) return;
          this.#deliver(sub, handler, m);
        },
      });
    } catch (err) {
      throw mapNatsError(err, subject);
    }
    this.#subs.add(sub);
    return sub;
  }

  /**
   * Sends a request on a fresh `_INBOX.` reply subject and resolves with the first reply.
   * While disconnected the request waits for the reconnect, within the same `timeoutMs`.
   * Rejects with InvalidSubjectError, RangeError (timeoutMs not a positive finite number),
   * NoRespondersError (server status 503), BusTimeoutError (no reply within `timeoutMs`, default
   * 5000 ms, reconnect wait included) or BusClosedError (closed before or while waiting).
   */
  request(subject: string, data?: Payload, opts?: RequestOptions): Promise<Msg> {
    if (this.#state === CLOSED) return Promise.reject(new BusClosedError());
    const timeoutMs = requestTimeoutMs(opts);
    if (timeoutMs instanceof RangeError) return Promise.reject(timeoutMs);
    let headers: MsgHdrs | undefined;
    let payload: Uint8Array;
    try {
      validateSubject(subject);
      headers = toNatsHeaders(opts?.headers);
      payload = copyBytes(data);
    } catch (err) {
      return Promise.reject(err);
    }
    const deadline = performance.now() + timeoutMs;
    const { promise, resolve, reject } = Promise.withResolvers<Msg>();
    let settled = false;
    const finish = (err: Error | undefined, msg?: Msg): void => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      this.#pending.delete(pending);
      if (err !== undefined) reject(err);
      else if (msg !== undefined) resolve(msg);
    };
    const pending: PendingRequest = { reject: (err) => finish(err) };
    // nats.js times out by itself; this guard only makes "never hangs" independent of its internals.
    const guard = setTimeout(() => finish(new BusTimeoutError(subject, timeoutMs)), timeoutMs + 250);
    this.#pending.add(pending);
    const send = (): void => {
      if (settled) return;
      if (this.#isClosed()) {
        finish(new BusClosedError());
        return;
      }
      const leftMs = deadline - performance.now();
      if (leftMs < 1) {
        finish(new BusTimeoutError(subject, timeoutMs));
        return;
      }
      this.connection.request(subject, payload, { timeout: Math.ceil(leftMs), ...(headers === undefined ? {} : { headers }) }).then(
        (m) => finish(undefined, toMsg(m, this)),
        (err: unknown) => finish(mapNatsError(err, subject, timeoutMs)),
      );
    };
    if (this.#link.state === "disconnected") {
      // nats.js would drop the request at its next dial attempt: hold it until the link is back.
      void this.#link.waitUp(timeoutMs).then(send);
    } else {
      send();
    }
    return promise;
  }

  #isClosed(): boolean {
    return this.#state === CLOSED;
  }

  /**
   * Resolves after a PING/PONG round trip: everything published before was read by the server.
   * While disconnected it first waits for the reconnect, at most 5000 ms (then rejects with
   * BusTimeoutError for subject `"flush"`). Rejects with BusClosedError once closed.
   */
  async flush(): Promise<void> {
    if (this.#state === CLOSED) throw new BusClosedError();
    if (this.#link.state === "disconnected") {
      const state = await this.#link.waitUp(DEFAULT_REQUEST_TIMEOUT_MS);
      if (state === "disconnected") throw new BusTimeoutError("flush", DEFAULT_REQUEST_TIMEOUT_MS);
      if (this.#isClosed() || state === "closed") throw new BusClosedError();
    }
    try {
      await this.connection.flush();
    } catch (err) {
      throw mapNatsError(err, "");
    }
  }

  /**
   * Stops new subscriptions, drains every subscription (UNSUB, messages already sent are still
   * handled, running handlers awaited; publishing stays allowed meanwhile), waits for handlers of
   * subscriptions unsubscribed earlier, then `nc.drain()` (flushes and closes). Idempotent.
   */
  drain(): Promise<void> {
    if (this.#drain !== undefined) return this.#drain;
    if (this.#state === CLOSED) return Promise.resolve();
    this.#state = DRAINING;
    this.#drain = this.#finishDrain();
    return this.#drain;
  }

  /** Closes at once: pending requests reject with BusClosedError. Idempotent. */
  close(): Promise<void> {
    this.#closeNow();
    return this.#close ?? Promise.resolve();
  }

  async #finishDrain(): Promise<void> {
    await Promise.all(Array.from(this.#subs, (sub) => sub.drain()));
    await this.#inflight.idle();
    if (this.#state === CLOSED) return;
    let native: Promise<void>;
    try {
      // Drains nats.js's own subscriptions (the request mux inbox), flushes, then closes.
      native = this.connection.drain();
    } catch {
      native = Promise.resolve();
    }
    if (!(await settledWithin(native, this.#drainTimeoutMs))) {
      this.#log("warn", { timeoutMs: this.#drainTimeoutMs }, "nats drain timed out; closing");
    }
    this.#closeNow();
    await this.#close;
  }

  #closeNow(): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    for (const sub of this.#subs) sub.state = CLOSED;
    this.#subs.clear();
    for (const pending of [...this.#pending]) pending.reject(new BusClosedError());
    this.#pending.clear();
    if (this.#buffer.length > 0) {
      this.#log("warn", { dropped: this.#buffer.length }, "bus closed while disconnected; buffered publishes dropped");
      this.#buffer = [];
      this.#bufferBytes = 0;
    }
    this.#close = this.connection.isClosed()
      ? Promise.resolve()
      : this.connection.close().catch(() => {
          // Closing a connection that is going away anyway cannot fail in a way callers could act on.
        });
  }

  #deliver(sub: NatsBusSubscription, handler: MsgHandler, m: NatsMsg): void {
    let result: unknown;
    try {
      result = handler(toMsg(m, this));
    } catch (err) {
      this.#report(err, sub, m.subject);
      return;
    }
    if (!isThenable(result)) return;
    sub.inflight.enter();
    this.#inflight.enter();
    result.then(
      () => {
        sub.inflight.leave();
        this.#inflight.leave();
      },
      (err: unknown) => {
        this.#report(err, sub, m.subject);
        sub.inflight.leave();
        this.#inflight.leave();
      },
    );
  }

  #report(err: unknown, sub: NatsBusSubscription, subject: string): void {
    this.#log("warn", { err, subject, pattern: sub.subject, queue: sub.queue }, "bus handler failed");
  }

  #log(level: "info" | "warn" | "error", obj: object, msg: string): void {
    if (this.#logger === undefined) return;
    try {
      this.#logger[level](obj, msg);
    } catch {
      // A failing logger must not take the delivery path down with it.
    }
  }

  /** Logs connection status changes (https://docs.nats.io/using-nats/developer/events/events). */
  #logStatus(st: Status): void {
    const fields = { transport: "nats", server: this.connection.getServer(), data: st.data };
    switch (st.type) {
      case Events.Disconnect:
        this.#log("warn", fields, "nats disconnected; reconnecting");
        break;
      case Events.Reconnect:
        this.#log("info", fields, "nats reconnected");
        break;
      case Events.LDM:
        this.#log("warn", fields, "nats server entering lame duck mode");
        break;
      case Events.Error:
        this.#log("error", fields, "nats async error");
        break;
      case DebugEvents.StaleConnection:
        this.#log("warn", fields, "nats connection stale");
        break;
      default:
        // Reconnect attempts, ping timers and cluster updates are noise at these levels.
        break;
    }
  }
}

/**
 * The nats.js connection of `bus` when it is a NATS transport bus (not a decorator over one),
 * else null. Lets the kernel hand JetStream users the connection instead of opening a second one.
 */
export function natsConnectionOf(bus: Bus): NatsConnection | null {
  return bus instanceof NatsBusImpl ? bus.connection : null;
}

/**
 * Connects to NATS and returns a {@link NatsBus}. Echo is on (a process receives its own
 * messages, like the memory bus); reconnects forever by default, every `reconnectTimeWaitMs`.
 * @throws BusError `BUS_CONNECT_FAILED` (with `cause`) when no server accepts the connection, or
 *   when `credsFile` cannot be read.
 */
export async function createNatsBus(opts: NatsBusOptions): Promise<NatsBus> {
  const options: ConnectionOptions = {
    servers: opts.servers,
    name: opts.name,
    noEcho: false,
    reconnect: true,
    maxReconnectAttempts: opts.maxReconnectAttempts ?? -1,
    reconnectTimeWait: opts.reconnectTimeWaitMs ?? 250,
    timeout: opts.connectTimeoutMs ?? 10_000,
    // nats.js otherwise captures two Error stacks per request (for async traces of timeouts),
    // ~1.5% of the gateway's CPU in split mode; our BusTimeoutError names the subject anyway.
    noAsyncTraces: true,
  };
  if (opts.inboxPrefix !== undefined) options.inboxPrefix = opts.inboxPrefix;
  if (opts.token !== undefined) options.token = opts.token;
  if (opts.user !== undefined) options.user = opts.user;
  if (opts.pass !== undefined) options.pass = opts.pass;
  if (opts.tls !== undefined) {
    options.tls = {
      ...(opts.tls.caFile === undefined ? {} : { caFile: opts.tls.caFile }),
      ...(opts.tls.certFile === undefined ? {} : { certFile: opts.tls.certFile }),
      ...(opts.tls.keyFile === undefined ? {} : { keyFile: opts.tls.keyFile }),
    };
  }
  const fail = (what: string, cause: unknown): BusError => {
    const err = new BusError("BUS_CONNECT_FAILED", `${what}: ${cause instanceof Error ? cause.message : String(cause)}`);
    (err as { cause?: unknown }).cause = cause;
    return err;
  };
  if (opts.credsFile !== undefined) {
    let creds: Uint8Array;
    try {
      creds = new Uint8Array(await readFile(opts.credsFile));
    } catch (err) {
      throw fail(`cannot read NATS credentials file ${opts.credsFile}`, err);
    }
    options.authenticator = credsAuthenticator(creds);
  }
  let nc: NatsConnection;
  try {
    nc = await connect(options);
  } catch (err) {
    throw fail(`cannot connect to NATS at ${opts.servers.join(", ")}`, err);
  }
  const bus = new NatsBusImpl(nc, opts.logger, opts.drainTimeoutMs ?? 5000, opts.reconnectBufferBytes ?? 8 * 1024 * 1024, opts.inboxPrefix);
  opts.logger?.info({ transport: "nats", server: nc.getServer(), name: opts.name }, "nats connected");
  return bus;
}
