/**
 * The bus: a NATS-shaped messaging interface (subjects, request/reply, publish/subscribe,
 * queue groups, headers). Two transports implement it: {@link ./memory.ts} (default, one
 * process) and NATS (split mode). Semantics follow the NATS protocol
 * (https://docs.nats.io/nats-concepts/core-nats) so that code written against the memory
 * transport behaves the same on a real server.
 */

import type { JsonPayload } from "./codec.ts";

/** Message headers. Keys are case-sensitive ASCII tokens; values are strings. */
export type Headers = Record<string, string>;

/**
 * What a sender hands to the bus: bytes, or a JSON value ({@link JsonPayload}, see codec.ts)
 * that the in-memory transport passes to its single recipient without encoding it, and a
 * network transport encodes.
 */
export type Payload = Uint8Array | JsonPayload;

/** A received message. `data` is the raw payload (bytes); use {@link Msg.json} to decode JSON. */
export interface Msg {
  /** The concrete subject the message was published to (never a wildcard). */
  readonly subject: string;
  /**
   * Payload bytes; empty `Uint8Array` when published without data. For a {@link JsonPayload}
   * passed in process, the bytes are encoded on first read: prefer {@link Msg.json}.
   */
  readonly data: Uint8Array;
  /** Headers; an empty object when none were sent. */
  readonly headers: Headers;
  /** Inbox subject to reply to, when the sender used `request`. */
  readonly reply?: string;
  /**
   * Decodes the payload as UTF-8 JSON. Throws `SyntaxError` on invalid JSON. A
   * {@link JsonPayload} passed in process is returned as is (no copy): the recipient owns it.
   */
  json<T>(): T;
  /** Decodes the payload as a UTF-8 string. */
  string(): string;
  /**
   * Replies to a request (publishes to `reply`). Returns false when the message has no
   * reply subject (it was published, not requested).
   */
  respond(data?: Payload, opts?: { headers?: Headers }): boolean;
}

/** Called for each message delivered to a subscription. Errors thrown are logged, never propagated to the publisher. */
export type MsgHandler = (msg: Msg) => void | Promise<void>;

export interface SubscribeOptions {
  /** Queue group: each message goes to exactly one member of the group (per group), as in NATS. */
  queue?: string;
}

export interface PublishOptions {
  headers?: Headers;
  /** Reply subject to attach (used to build request/reply on top of publish). */
  reply?: string;
}

export interface RequestOptions {
  /** Time to wait for the first reply, in ms. Default 5000. */
  timeoutMs?: number;
  headers?: Headers;
}

/** A live subscription. */
export interface Subscription {
  readonly subject: string;
  readonly queue?: string;
  /** Stops delivery immediately; handlers already running finish on their own. */
  unsubscribe(): void;
  /** Stops delivery and resolves when every handler already running for it has settled. */
  drain(): Promise<void>;
}

/**
 * The transport interface. Deliberately tiny (as Moleculer's transporters are) so that the
 * memory and NATS implementations are interchangeable and pass one contract suite.
 *
 * Subject syntax is NATS's: tokens separated by `.`; in subscriptions `*` matches exactly
 * one token and `>` (last token only) matches one or more tokens.
 */
export interface Bus {
  /** Transport name for logs and metrics, e.g. `"memory"` or `"nats"`. */
  readonly transport: string;
  /**
   * Publishes a message. Fire-and-forget: delivery is asynchronous (a subscriber never runs on
   * the publisher's stack). Throws `BusClosedError` after `close`/`drain`.
   * Throws `InvalidSubjectError` for subjects containing wildcards or empty tokens.
   */
  publish(subject: string, data?: Payload, opts?: PublishOptions): void;
  /** Subscribes to a subject or wildcard pattern. Throws `InvalidSubjectError` on bad patterns. */
  subscribe(subject: string, handler: MsgHandler, opts?: SubscribeOptions): Subscription;
  /**
   * Sends a request and resolves with the first reply.
   * Rejects with `NoRespondersError` when nobody subscribes to the subject (NATS status 503),
   * `BusTimeoutError` when no reply arrives within `timeoutMs`, `BusClosedError` when closed.
   */
  request(subject: string, data?: Payload, opts?: RequestOptions): Promise<Msg>;
  /** Resolves when everything published so far has been handed to the transport (NATS PING/PONG). */
  flush(): Promise<void>;
  /** Graceful close: unsubscribes everything, waits for running handlers, then closes. */
  drain(): Promise<void>;
  /** Immediate close; pending requests reject with `BusClosedError`. Idempotent. */
  close(): Promise<void>;
  /** True once `close` or `drain` was called. */
  readonly closed: boolean;
  /**
   * A fresh inbox subject under this connection's inbox prefix (NATS: `inboxPrefix`, e.g.
   * `_INBOX.gateway.<id>`), for protocols that receive on their own subject (bus streams).
   * Optional: without it callers use `_INBOX.<random>`.
   */
  newInbox?(): string;
}

/** Creates a bus; the contract suites are parameterised by one of these. */
export type BusFactory = () => Promise<Bus>;
