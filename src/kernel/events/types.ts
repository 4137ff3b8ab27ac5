import type { Headers, Subscription } from "../bus/types.ts";

/**
 * Durable events: what a module publishes for other modules to act on (`order.created`,
 * `catalog.stock_changed`, ...). At-least-once delivery: a consumer's handler that throws (or
 * whose process dies before it finished) gets the event again, so handlers must be idempotent
 * (deduplicate by `eventId`). On NATS this is JetStream (one stream per publishing module,
 * one durable consumer per consuming module and subject, ack after the handler resolved); in
 * memory it is the bus plus in-process redelivery. Core bus subscribers (e.g. the gateway's
 * subscriptions) also see every event, as plain messages on the same subject.
 *
 * Event subjects must never be request/reply subjects: a JetStream stream answers every
 * message on its subjects with a publish ack, which would be taken for the reply.
 */
export interface EventMsg {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Headers;
  /** The publisher's event id (also the JetStream `Nats-Msg-Id` used for deduplication). */
  readonly eventId: string;
  /** 1 on first delivery, 2+ on redelivery. */
  readonly deliveryCount: number;
  json<T>(): T;
}

export interface PublishEventOptions {
  /** Unique id of this event (KSUID); republishing the same id is deduplicated where the transport can. */
  eventId: string;
  headers?: Headers;
}

export interface ConsumeOptions {
  /**
   * Durable consumer name, stable across restarts, shared by all instances of the consuming
   * module (they split the events): conventionally `<module>`; the implementation derives a
   * per-subject durable from it.
   */
  durable: string;
  /** Max deliveries before the event is given up (logged), default 10. */
  maxDeliver?: number;
  /** Wait before a failed event is redelivered, ms; default 1000. */
  retryDelayMs?: number;
  /**
   * JetStream only: how long the server waits for an ack before it redelivers (covers a consumer
   * process dying mid-handler), ms; default 30000. A running handler keeps its event claimed past
   * this (the client sends "in progress" acks), so lower it only to recover faster from crashes.
   */
  ackWaitMs?: number;
  /**
   * JetStream only: handlers running at once for this `consume` call in this process; default 16.
   * 1 handles events one at a time in stream order (redeliveries aside). The memory transport runs
   * every delivery at once, as the bus does.
   */
  maxInFlight?: number;
}

export interface EventStream {
  /** Transport name for logs: `"memory"` or `"jetstream"`. */
  readonly kind: string;
  /**
   * Declares the subjects a module publishes (idempotent; on JetStream creates or updates the
   * stream `EVENTS_<MODULE>`). Must be called before `publish` on those subjects.
   */
  declare(module: string, subjects: readonly string[]): Promise<void>;
  /**
   * Publishes an event; resolves once it is stored (JetStream ack) or, in memory, handed to
   * the bus. Rejects with a BusError when it could not be stored.
   */
  publish(subject: string, data: Uint8Array, opts: PublishEventOptions): Promise<void>;
  /**
   * Consumes an event subject. The handler's promise decides the outcome: resolve = ack,
   * reject = redeliver later (up to `maxDeliver`).
   */
  consume(subject: string, handler: (msg: EventMsg) => Promise<void>, opts: ConsumeOptions): Promise<Subscription>;
  /** Stops consumers (waiting for running handlers). Does not close the underlying connection. */
  close(): Promise<void>;
}

/** Header carrying the event id on the wire. `Nats-Msg-Id` is JetStream's deduplication header. */
export const EVENT_ID_HEADER = "Nats-Msg-Id";
