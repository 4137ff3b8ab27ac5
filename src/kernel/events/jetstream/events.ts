/**
 * The JetStream event stream: declares a module's stream (streams.ts), publishes with
 * `Nats-Msg-Id` and awaits the stream's ack (resolved means stored), and runs one durable pull
 * consumer per `consume` call (consumer.ts).
 */

import { headers as natsHeaders, type JetStreamClient, type JetStreamManager, type NatsConnection } from "nats";
import { EMPTY } from "../../bus/codec.ts";
import { BusClosedError, EventPublishError } from "../../bus/errors.ts";
import { type NatsLink, natsLink } from "../../bus/nats/link.ts";
import { validatePattern, validateSubject } from "../../bus/subject.ts";
import type { Subscription } from "../../bus/types.ts";
import type { LogSink } from "../../logger.ts";
import { checkEventId, consumeSettings, eventHeaders } from "../shared.ts";
import { EVENT_ID_HEADER, type ConsumeOptions, type EventMsg, type EventStream, type PublishEventOptions } from "../types.ts";
import { type ConsumerHost, JsConsumer } from "./consumer.ts";
import { message, publishError, withCause } from "./errors.ts";
import { declareStream } from "./streams.ts";

/** `ConsumeOptions.ackWaitMs` default, ms (the JetStream default too). */
export const DEFAULT_ACK_WAIT_MS = 30_000;
/** `ConsumeOptions.maxInFlight` default. */
export const DEFAULT_MAX_IN_FLIGHT = 16;

/** Options of {@link JetStreamEvents}. */
export interface JetStreamEventsOptions {
  /** Receives consumer lifecycle messages, handler failures and give-ups. */
  logger?: LogSink;
  /** Stream replicas (`num_replicas`), 1..5; default 1. Use 3 on a clustered JetStream. */
  replicas?: number;
  /** Wait for a publish ack, ms; default 5000. */
  publishTimeoutMs?: number;
  /** Wait between attempts to attach a consumer whose stream is not declared yet, ms; default 1000. */
  retryIntervalMs?: number;
}

/** The {@link EventStream} over a NATS connection's JetStream. */
export class JetStreamEvents implements EventStream {
  readonly kind = "jetstream";
  readonly #nc: NatsConnection;
  readonly #link: NatsLink;
  readonly #js: JetStreamClient;
  readonly #logger: LogSink | undefined;
  readonly #replicas: number;
  readonly #publishTimeoutMs: number;
  #jsm: Promise<JetStreamManager> | undefined;
  readonly #consumers = new Set<JsConsumer>();
  #closed = false;
  readonly #host: ConsumerHost;

  constructor(nc: NatsConnection, opts: JetStreamEventsOptions) {
    this.#nc = nc;
    this.#link = natsLink(nc);
    this.#js = nc.jetstream();
    this.#logger = opts.logger;
    this.#replicas = opts.replicas ?? 1;
    if (!Number.isInteger(this.#replicas) || this.#replicas < 1 || this.#replicas > 5) {
      throw new RangeError(`replicas must be an integer 1..5, got ${this.#replicas}`);
    }
    this.#publishTimeoutMs = opts.publishTimeoutMs ?? 5000;
    this.#host = {
      js: this.#js,
      logger: this.#logger,
      retryIntervalMs: opts.retryIntervalMs ?? 1000,
      manager: () => this.#manager(),
      forget: (c) => this.#consumers.delete(c),
    };
    // A closed connection ends every consumer (their loops would otherwise wait forever).
    void nc.closed().then(() => {
      for (const c of [...this.#consumers]) c.unsubscribe();
    });
  }

  /**
   * Creates stream `EVENTS_<MODULE>` with exactly `subjects`, or updates its subjects when it
   * exists. No-op for an empty list (JetStream would default the subjects to the stream name).
   * Rejects with InvalidSubjectError, RangeError (empty module), BusClosedError, or BusError
   * `EVENTS_DECLARE_FAILED` (e.g. subjects overlapping another module's stream, JetStream off).
   */
  async declare(module: string, subjects: readonly string[]): Promise<void> {
    if (this.#closed || this.#nc.isClosed()) throw new BusClosedError();
    if (typeof module !== "string" || module.trim() === "") throw new RangeError("module name must be non-empty");
    for (const subject of subjects) validatePattern(subject);
    if (subjects.length === 0) return;
    await declareStream(() => this.#manager(), module, subjects, this.#replicas);
  }

  /**
   * Publishes with `Nats-Msg-Id` = `eventId` and resolves once the stream acked (stored, or
   * recognised as a duplicate). While disconnected it waits for the reconnect within the same
   * `publishTimeoutMs`. Rejects with EventPublishError (`no_stream`, `timeout`, `rejected`),
   * InvalidSubjectError, RangeError (no event id) or BusClosedError. After a `timeout` the event
   * may still have been stored: retry with the same eventId (deduplicated for 2 min).
   */
  async publish(subject: string, data: Uint8Array, opts: PublishEventOptions): Promise<void> {
    if (this.#closed || this.#nc.isClosed()) throw new BusClosedError();
    validateSubject(subject);
    checkEventId(opts);
    const { [EVENT_ID_HEADER]: _id, ...rest } = eventHeaders(opts);
    const h = natsHeaders();
    try {
      for (const key in rest) h.set(key, rest[key] ?? "");
    } catch (err) {
      throw withCause(new EventPublishError(subject, "rejected", message(err)), err);
    }
    // Copy: nats.js writes the caller's array in a later microtask.
    const payload = data.length === 0 ? EMPTY : data.slice();
    let timeout = this.#publishTimeoutMs;
    if (this.#link.state === "disconnected") {
      // nats.js drops what is sent while disconnected: wait for the link within the same budget.
      const started = performance.now();
      const state = await this.#link.waitUp(timeout);
      if (state === "closed" || this.#closed) throw new BusClosedError();
      timeout -= performance.now() - started;
      if (state === "disconnected" || timeout < 1) {
        throw new EventPublishError(subject, "timeout", "disconnected from NATS");
      }
    }
    try {
      await this.#js.publish(subject, payload, { msgID: opts.eventId, headers: h, timeout: Math.ceil(timeout) });
    } catch (err) {
      throw publishError(err, subject);
    }
  }

  /**
   * Attaches to (creating if needed) the durable pull consumer `<durable>__<subject>` and runs
   * `handler` per event. Resolves after the first attach attempt; when the subject's stream does
   * not exist yet, keeps retrying every `retryIntervalMs` in the background instead of failing.
   * Rejects with InvalidSubjectError / RangeError for bad arguments, BusClosedError when closed.
   */
  async consume(subject: string, handler: (msg: EventMsg) => Promise<void>, opts: ConsumeOptions): Promise<Subscription> {
    if (this.#closed || this.#nc.isClosed()) throw new BusClosedError();
    const base = consumeSettings(subject, opts);
    const ackWaitMs = opts.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
    if (!(ackWaitMs >= 1000) || !Number.isFinite(ackWaitMs)) {
      throw new RangeError(`ackWaitMs must be a finite number of ms >= 1000, got ${ackWaitMs}`);
    }
    const maxInFlight = opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
      throw new RangeError(`maxInFlight must be an integer >= 1, got ${maxInFlight}`);
    }
    const consumer = new JsConsumer(subject, { ...base, ackWaitMs, maxInFlight }, handler, this.#host);
    this.#consumers.add(consumer);
    await consumer.start();
    return consumer;
  }

  /** Drains every consumer (unstarted events nak'd, running handlers awaited). Leaves the connection open. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(Array.from(this.#consumers, (c) => c.drain()));
  }

  #manager(): Promise<JetStreamManager> {
    if (this.#jsm === undefined) {
      const pending = this.#nc.jetstreamManager();
      this.#jsm = pending;
      // A failure (server down, JetStream off) must not be cached: the next call asks again.
      pending.catch(() => {
        if (this.#jsm === pending) this.#jsm = undefined;
      });
    }
    return this.#jsm;
  }
}
