/**
 * The {@link Bus} over an open nats.js connection: publish (through the reconnect buffer while the
 * link is down), subscribe, request, flush, drain and close. Connecting is ../nats.ts's job.
 *
 * Protocol: https://docs.nats.io/reference/reference-protocols/nats-protocol ; no responders
 * (status 503): https://docs.nats.io/nats-concepts/core-nats/reqreply#no-responders ; drain:
 * https://docs.nats.io/using-nats/developer/receiving/drain .
 */

import { createInbox, type MsgHdrs, type Msg as NatsMsg, type NatsConnection, type Status } from "nats";
import { type LogSink, safeLog } from "../../logger.ts";
import { EMPTY, JsonPayload } from "../codec.ts";
import { BusClosedError, BusTimeoutError, InvalidSubjectError } from "../errors.ts";
import { CLOSED, DRAINING, Inflight, OPEN, type TransportState as State } from "../inflight.ts";
import { BusMsg, DEFAULT_REQUEST_TIMEOUT_MS, requestTimeoutMs } from "../msg.ts";
import { validatePattern, validateSubject } from "../subject.ts";
import type { Bus, Msg, MsgHandler, Payload, PublishOptions, RequestOptions, SubscribeOptions, Subscription } from "../types.ts";
import { mapNatsError } from "./errors.ts";
import { fromNatsHeaders, toNatsHeaders } from "./headers.ts";
import { type NatsLink, natsLink } from "./link.ts";
import { ReconnectBuffer } from "./reconnect-buffer.ts";
import { settledWithin } from "./settled.ts";
import { statusLine } from "./status-log.ts";
import { NatsBusSubscription } from "./subscription.ts";

/** A {@link Bus} backed by a NATS connection. */
export interface NatsBus extends Bus {
  /** The underlying nats.js connection (for JetStream); do not close it directly, use the bus. */
  readonly connection: NatsConnection;
}

/** What the bus needs besides the connection (defaults are applied by `createNatsBus`). */
export interface NatsBusSettings {
  /** Receives handler errors and connection status changes. */
  logger: LogSink | undefined;
  /** Cap on the protocol part of `drain`, ms. */
  drainTimeoutMs: number;
  /** Reconnect buffer size, bytes (payload + subject). */
  reconnectBufferBytes: number;
  /** Prefix of the inboxes this connection receives on (nats.js `inboxPrefix`). */
  inboxPrefix: string | undefined;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null && (typeof value === "object" || typeof value === "function") && typeof (value as { then?: unknown }).then === "function"
  );
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

function toMsg(m: NatsMsg, bus: NatsConnectionBus): BusMsg {
  const reply = m.reply === undefined || m.reply === "" ? undefined : m.reply;
  return new BusMsg(m.subject, m.data.length === 0 ? EMPTY : m.data, fromNatsHeaders(m.headers), reply, bus);
}

interface PendingRequest {
  reject(err: Error): void;
}

class NatsConnectionBus implements NatsBus {
  readonly transport = "nats";
  readonly connection: NatsConnection;

  readonly #logger: LogSink | undefined;
  readonly #drainTimeoutMs: number;
  readonly #link: NatsLink;
  readonly #inboxPrefix: string | undefined;
  /** Publishes made while disconnected, sent in order on reconnect. */
  readonly #buffer: ReconnectBuffer;
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

  constructor(nc: NatsConnection, settings: NatsBusSettings) {
    this.connection = nc;
    this.#inboxPrefix = settings.inboxPrefix;
    this.#logger = settings.logger;
    this.#drainTimeoutMs = settings.drainTimeoutMs;
    this.#buffer = new ReconnectBuffer(settings.reconnectBufferBytes, settings.logger);
    this.#link = natsLink(nc);
    this.#link.onStatus((st) => this.#logStatus(st));
    this.#link.onReconnect(() => this.#buffer.flush((item) => this.#send(item.subject, item.data, item.reply, item.headers)));
    // The connection can close on its own (reconnect attempts exhausted, auth revoked).
    void nc.closed().then((err) => {
      if (this.#state === CLOSED) return;
      // While draining, the close is the one drain() asked for (nc.drain() ends in a close): not an error.
      if (this.#state === OPEN || err) safeLog(this.#logger, "error", { err, server: nc.getServer() }, "nats connection closed");
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
      this.#buffer.hold({ subject, data: payload, reply, headers });
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
            safeLog(this.#logger, "warn", { err, subject, queue }, "bus subscription error");
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
      safeLog(this.#logger, "warn", { timeoutMs: this.#drainTimeoutMs }, "nats drain timed out; closing");
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
    this.#buffer.drop();
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
    safeLog(this.#logger, "warn", { err, subject, pattern: sub.subject, queue: sub.queue }, "bus handler failed");
  }

  /** Logs connection status changes as {@link statusLine} says. */
  #logStatus(st: Status): void {
    const line = statusLine(st);
    if (line === undefined) return;
    safeLog(this.#logger, line.level, { transport: "nats", server: this.connection.getServer(), data: st.data }, line.msg);
  }
}

/** The bus over `nc`, which it owns from now on (closing the bus closes the connection). */
export function natsBusOn(nc: NatsConnection, settings: NatsBusSettings): NatsBus {
  return new NatsConnectionBus(nc, settings);
}

/**
 * The nats.js connection of `bus` when it is a NATS transport bus (not a decorator over one),
 * else null. Lets the kernel hand JetStream users the connection instead of opening a second one.
 */
export function natsConnectionOf(bus: Bus): NatsConnection | null {
  return bus instanceof NatsConnectionBus ? bus.connection : null;
}
