/**
 * One durable PULL consumer of a subject, run by one `consume` call: a background loop that
 * (re)attaches to `<durable>__<subject>` (explicit ack, deliver policy `all`) and runs handlers,
 * at most `maxInFlight` at a time.
 *
 * Outcome of a handler: resolve → `ack`; reject → `nak` with `retryDelayMs` delay, or `term` once
 * `maxDeliver` deliveries were made (logged). While a handler runs the client sends
 * "in progress" acks every `ackWaitMs / 2`, so only a dead process lets `ack_wait` expire.
 */

import {
  AckPolicy,
  ConsumerEvents,
  DeliverPolicy,
  nanos,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "nats";
import { EMPTY } from "../../bus/codec.ts";
import { BusClosedError } from "../../bus/errors.ts";
import { CLOSED, DRAINING, Inflight, OPEN, type TransportState as State } from "../../bus/inflight.ts";
import { fromNatsHeaders } from "../../bus/nats/headers.ts";
import type { Subscription } from "../../bus/types.ts";
import { type LogSink, safeLog } from "../../logger.ts";
import { type ConsumeSettings, DeliveredEvent } from "../shared.ts";
import { EVENT_ID_HEADER, type EventMsg } from "../types.ts";
import { isClosedError, message } from "./errors.ts";

function toEventMsg(m: JsMsg): DeliveredEvent {
  const headers = fromNatsHeaders(m.headers);
  const info = m.info;
  // Messages stored by a plain publish carry no id: stream + sequence is stable across redeliveries.
  const eventId = headers[EVENT_ID_HEADER] ?? `${info.stream}:${info.streamSequence}`;
  return new DeliveredEvent(m.subject, m.data.length === 0 ? EMPTY : m.data, headers, eventId, info.deliveryCount);
}

/** Consume settings plus the JetStream-only ones. */
export interface JsSettings extends ConsumeSettings {
  /** ms */
  ackWaitMs: number;
  maxInFlight: number;
}

/** What a consumer needs from its event stream. */
export interface ConsumerHost {
  readonly js: JetStreamClient;
  readonly logger: LogSink | undefined;
  /** ms */
  readonly retryIntervalMs: number;
  manager(): Promise<JetStreamManager>;
  forget(c: JsConsumer): void;
}

/**
 * One `consume` call: a background loop that (re)attaches to the durable pull consumer and runs
 * handlers, at most `maxInFlight` at a time.
 */
export class JsConsumer implements Subscription {
  readonly queue: string;
  state: State = OPEN;
  readonly #host: ConsumerHost;
  readonly #settings: JsSettings;
  readonly #handler: (msg: EventMsg) => Promise<void>;
  readonly #inflight = new Inflight();
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;
  #drained: Promise<void> | undefined;
  /** Wakes the loop from a retry wait or a full-slots wait (on stop, or when a handler finishes). */
  #wake: (() => void) | undefined;
  #lastError = "";

  constructor(
    readonly subject: string,
    settings: JsSettings,
    handler: (msg: EventMsg) => Promise<void>,
    host: ConsumerHost,
  ) {
    this.queue = settings.name;
    this.#settings = settings;
    this.#handler = handler;
    this.#host = host;
  }

  /** Starts the loop; resolves after the first attach attempt, whether it worked or will be retried. */
  start(): Promise<void> {
    const first = Promise.withResolvers<void>();
    this.#loop = this.#run(first.resolve);
    return first.promise;
  }

  /** Stops pulling at once; events already pulled but not started go back to the server (nak). */
  unsubscribe(): void {
    if (this.state === CLOSED) return;
    this.state = CLOSED;
    this.#stopPulling();
    this.#host.forget(this);
  }

  /** Stops pulling, returns events not started yet (nak), waits for running handlers. */
  drain(): Promise<void> {
    if (this.#drained !== undefined) return this.#drained;
    if (this.state === CLOSED) return this.#inflight.idle();
    this.state = DRAINING;
    this.#stopPulling();
    this.#drained = (async () => {
      await this.#loop;
      await this.#inflight.idle();
      this.state = CLOSED;
      this.#host.forget(this);
    })();
    return this.#drained;
  }

  #stopPulling(): void {
    this.#messages?.stop();
    this.#wakeUp();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Waits `ms` or until woken (stop). */
  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #fields(extra?: object): object {
    return { subject: this.subject, durable: this.queue, ...extra };
  }

  async #run(started: () => void): Promise<void> {
    while (this.state === OPEN) {
      let messages: ConsumerMessages;
      try {
        messages = await this.#attach();
      } catch (err) {
        started();
        if (this.state !== OPEN) break;
        if (isClosedError(err)) {
          safeLog(this.#host.logger, "warn", this.#fields({ err }), "event consumer stopped: connection closed");
          break;
        }
        // Usually the publisher has not declared its stream yet: retry quietly, log each new reason once.
        const reason = message(err);
        if (reason !== this.#lastError) {
          this.#lastError = reason;
          safeLog(
            this.#host.logger,
            reason === "no stream matches subject" ? "info" : "warn",
            this.#fields({ err, retryMs: this.#host.retryIntervalMs }),
            "event consumer not attached yet; retrying",
          );
        }
        await this.#pause(this.#host.retryIntervalMs);
        continue;
      }
      started();
      if (this.#lastError !== "") {
        safeLog(this.#host.logger, "info", this.#fields(), "event consumer attached");
        this.#lastError = "";
      }
      await this.#process(messages);
      this.#messages = undefined;
      if (this.state === OPEN) {
        // The server lost the consumer or stream (deleted, re-declared): attach again.
        await this.#pause(this.#host.retryIntervalMs);
      }
    }
  }

  /** Finds the stream by subject, creates or updates the durable, starts pulling. */
  async #attach(): Promise<ConsumerMessages> {
    const jsm = await this.#host.manager();
    const stream = await jsm.streams.find(this.subject);
    const s = this.#settings;
    const config: Partial<ConsumerConfig> = {
      durable_name: s.name,
      filter_subject: this.subject,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(s.ackWaitMs),
      max_deliver: s.maxDeliver,
      deliver_policy: DeliverPolicy.All,
    };
    // Idempotent: the same config returns the existing consumer; nats-server updates changed
    // updatable fields (ack_wait, max_deliver) in place.
    await jsm.consumers.add(stream, config);
    const consumer = await this.#host.js.consumers.get(stream, s.name);
    if (this.state !== OPEN) throw new BusClosedError();
    // Pull only what can run now: pulled-but-waiting events would sit out their ack_wait elsewhere.
    const messages = await consumer.consume({ max_messages: s.maxInFlight });
    this.#messages = messages;
    if (this.state !== OPEN) messages.stop();
    void this.#watch(messages);
    return messages;
  }

  /** Stops the pull loop when the server lost the consumer, so `#run` re-creates it. */
  async #watch(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const s of await messages.status()) {
        if (
          s.type === ConsumerEvents.ConsumerDeleted ||
          s.type === ConsumerEvents.ConsumerNotFound ||
          s.type === ConsumerEvents.StreamNotFound
        ) {
          safeLog(this.#host.logger, "warn", this.#fields({ status: s.type }), "event consumer lost; re-attaching");
          messages.stop();
          return;
        }
      }
    } catch {
      // The status iterator ends with the messages iterator.
    }
  }

  async #process(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const m of messages) {
        while (this.state === OPEN && this.#inflight.count >= this.#settings.maxInFlight) {
          await new Promise<void>((resolve) => (this.#wake = resolve));
        }
        if (this.state !== OPEN) {
          // Hand it back now instead of letting it wait out ack_wait.
          this.#try(() => m.nak(), "nak on stop");
          continue;
        }
        this.#handle(m);
      }
    } catch (err) {
      if (this.state === OPEN) safeLog(this.#host.logger, "warn", this.#fields({ err }), "event consumer pull failed");
    }
  }

  #handle(m: JsMsg): void {
    const msg = toEventMsg(m);
    const s = this.#settings;
    this.#inflight.enter();
    // "In progress" acks keep a long handler's event claimed; ack_wait then only catches dead processes.
    const progress = setInterval(() => this.#try(() => m.working(), "in-progress ack"), Math.max(500, s.ackWaitMs / 2));
    let outcome: Promise<void>;
    try {
      outcome = Promise.resolve(this.#handler(msg));
    } catch (err) {
      outcome = Promise.reject(err);
    }
    outcome
      .then(
        () => this.#try(() => m.ack(), "ack"),
        (err: unknown) => {
          const fields = this.#fields({ err, eventId: msg.eventId, deliveryCount: msg.deliveryCount, maxDeliver: s.maxDeliver });
          if (msg.deliveryCount >= s.maxDeliver) {
            safeLog(this.#host.logger, "error", fields, "event handler failed on its last delivery; event given up");
            this.#try(() => m.term(), "term");
          } else {
            safeLog(this.#host.logger, "warn", { ...fields, retryDelayMs: s.retryDelayMs }, "event handler failed; will redeliver");
            this.#try(() => m.nak(s.retryDelayMs), "nak");
          }
        },
      )
      .finally(() => {
        clearInterval(progress);
        this.#inflight.leave();
        this.#wakeUp();
      });
  }

  /** Acks are fire-and-forget publishes; on a closed connection the server redelivers after ack_wait anyway. */
  #try(fn: () => void, what: string): void {
    try {
      fn();
    } catch (err) {
      safeLog(this.#host.logger, "warn", this.#fields({ err }), `event ${what} not sent; the server will redeliver`);
    }
  }
}
