/**
 * In-process durable-events transport: the default in single-binary mode, held to the same
 * contract as JetStream (tests/contract/events.contract.ts) except for durability itself.
 *
 * - `publish` is a bus publish carrying the event id in {@link EVENT_ID_HEADER}, so core bus
 *   subscribers see events as plain messages, as on NATS;
 * - `consume` is a bus queue subscription whose group is the per-subject durable name
 *   (`consumerName`, shared.ts): instances of one module split the events, other modules get them all;
 * - a rejected handler gets the event again after `retryDelayMs` with `deliveryCount + 1`, in this
 *   process, up to `maxDeliver` deliveries (then it is logged and dropped).
 * Not durable: events published while nobody consumes are lost, and redeliveries still pending
 * when a consumer stops are dropped (logged).
 */

import { EMPTY } from "../bus/codec.ts";
import { BusClosedError, EventPublishError } from "../bus/errors.ts";
import { CLOSED, DRAINING, Inflight, OPEN, type TransportState as State } from "../bus/inflight.ts";
import { matches, validatePattern, validateSubject } from "../bus/subject.ts";
import type { Bus, Headers, Msg, Subscription } from "../bus/types.ts";
import { type LogSink, safeLog } from "../logger.ts";
import { type ConsumeSettings, DeliveredEvent, checkEventId, consumeSettings, eventHeaders } from "./shared.ts";
import { EVENT_ID_HEADER, type ConsumeOptions, type EventMsg, type EventStream, type PublishEventOptions } from "./types.ts";

export interface MemoryEventStreamOptions {
  /** Receives handler failures, give-ups and dropped redeliveries. */
  logger?: LogSink;
}

/** One received event: the pristine payload, copied into every delivery (handlers may mutate theirs). */
interface Pending {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Headers;
  readonly eventId: string;
}

class MemoryConsumer implements Subscription {
  readonly queue: string;
  state: State = OPEN;
  readonly #settings: ConsumeSettings;
  readonly #handler: (msg: EventMsg) => Promise<void>;
  readonly #logger: LogSink | undefined;
  readonly #inflight = new Inflight();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #onClosed: (c: MemoryConsumer) => void;
  #sub!: Subscription;
  #drained: Promise<void> | undefined;

  constructor(
    readonly subject: string,
    settings: ConsumeSettings,
    handler: (msg: EventMsg) => Promise<void>,
    logger: LogSink | undefined,
    onClosed: (c: MemoryConsumer) => void,
  ) {
    this.queue = settings.name;
    this.#settings = settings;
    this.#handler = handler;
    this.#logger = logger;
    this.#onClosed = onClosed;
  }

  start(bus: Bus): void {
    // The bus handler returns the first attempt's promise, so a bus-level drain also waits for it.
    this.#sub = bus.subscribe(this.subject, (msg) => this.#receive(msg), { queue: this.queue });
  }

  unsubscribe(): void {
    if (this.state === CLOSED) return;
    this.state = CLOSED;
    this.#sub.unsubscribe();
    this.#dropRetries();
    this.#onClosed(this);
  }

  /** Stops delivery, drops pending redeliveries (logged), waits for running handlers. */
  drain(): Promise<void> {
    if (this.#drained !== undefined) return this.#drained;
    if (this.state === CLOSED) return this.#inflight.idle();
    this.state = DRAINING;
    this.#drained = (async () => {
      await this.#sub.drain();
      this.#dropRetries();
      await this.#inflight.idle();
      this.state = CLOSED;
      this.#onClosed(this);
    })();
    return this.#drained;
  }

  #receive(msg: Msg): Promise<void> | undefined {
    if (this.state === CLOSED) return undefined;
    // The bus already copied payload and headers for this subscription: they are ours to keep.
    const event: Pending = {
      subject: msg.subject,
      data: msg.data,
      headers: msg.headers,
      // Plain bus publishes (no id header) still get an id, stable across their redeliveries.
      eventId: msg.headers[EVENT_ID_HEADER] ?? `mem-${crypto.randomUUID()}`,
    };
    return this.#attempt(event, 1);
  }

  async #attempt(event: Pending, deliveryCount: number): Promise<void> {
    this.#inflight.enter();
    try {
      const data = event.data.length === 0 ? EMPTY : event.data.slice();
      await this.#handler(new DeliveredEvent(event.subject, data, { ...event.headers }, event.eventId, deliveryCount));
    } catch (err) {
      this.#failed(event, deliveryCount, err);
    } finally {
      this.#inflight.leave();
    }
  }

  #failed(event: Pending, deliveryCount: number, err: unknown): void {
    const fields = {
      err,
      subject: event.subject,
      eventId: event.eventId,
      durable: this.queue,
      deliveryCount,
      maxDeliver: this.#settings.maxDeliver,
    };
    if (deliveryCount >= this.#settings.maxDeliver) {
      safeLog(this.#logger, "error", fields, "event handler failed on its last delivery; event given up");
      return;
    }
    if (this.state !== OPEN) {
      safeLog(this.#logger, "warn", fields, "event handler failed while the consumer stops; redelivery dropped (memory events)");
      return;
    }
    safeLog(this.#logger, "warn", { ...fields, retryDelayMs: this.#settings.retryDelayMs }, "event handler failed; will redeliver");
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.state === OPEN) void this.#attempt(event, deliveryCount + 1);
    }, this.#settings.retryDelayMs);
    this.#timers.add(timer);
  }

  #dropRetries(): void {
    if (this.#timers.size === 0) return;
    safeLog(
      this.#logger,
      "warn",
      { subject: this.subject, durable: this.queue, dropped: this.#timers.size },
      "consumer stopped with redeliveries pending; dropped (memory events are not durable)",
    );
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}

class MemoryEventStream implements EventStream {
  readonly kind = "memory";
  readonly #bus: Bus;
  readonly #logger: LogSink | undefined;
  /** Declared subject patterns per module. */
  readonly #declared = new Map<string, readonly string[]>();
  readonly #consumers = new Set<MemoryConsumer>();
  #closed = false;

  constructor(bus: Bus, logger: LogSink | undefined) {
    this.#bus = bus;
    this.#logger = logger;
  }

  /**
   * Records the subjects `module` publishes (replacing its previous declaration). Idempotent.
   * Rejects with InvalidSubjectError for a bad pattern, RangeError for an empty module name,
   * BusClosedError after `close`.
   */
  async declare(module: string, subjects: readonly string[]): Promise<void> {
    if (this.#closed) throw new BusClosedError();
    if (typeof module !== "string" || module.trim() === "") throw new RangeError("module name must be non-empty");
    for (const subject of subjects) validatePattern(subject);
    this.#declared.set(module, [...subjects]);
  }

  /**
   * Publishes on the bus with the event id header; resolves once handed to the bus.
   * Rejects with EventPublishError (`no_stream`) when no module declared the subject (as
   * JetStream would), InvalidSubjectError, RangeError (no event id) or BusClosedError.
   */
  async publish(subject: string, data: Uint8Array, opts: PublishEventOptions): Promise<void> {
    if (this.#closed) throw new BusClosedError();
    validateSubject(subject);
    checkEventId(opts);
    if (!this.#isDeclared(subject)) {
      throw new EventPublishError(subject, "no_stream", "no module declared this subject");
    }
    // The bus copies the payload per recipient, so the caller may reuse `data` at once.
    this.#bus.publish(subject, data, { headers: eventHeaders(opts) });
  }

  /**
   * Subscribes with the per-subject durable as queue group; resolves at once.
   * Rejects with InvalidSubjectError / RangeError for bad arguments, BusClosedError after `close`.
   */
  async consume(subject: string, handler: (msg: EventMsg) => Promise<void>, opts: ConsumeOptions): Promise<Subscription> {
    if (this.#closed) throw new BusClosedError();
    const settings = consumeSettings(subject, opts);
    const consumer = new MemoryConsumer(subject, settings, handler, this.#logger, (c) => this.#consumers.delete(c));
    consumer.start(this.#bus);
    this.#consumers.add(consumer);
    return consumer;
  }

  /** Drains every consumer (running handlers awaited, pending redeliveries dropped). Leaves the bus open. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(Array.from(this.#consumers, (c) => c.drain()));
  }

  #isDeclared(subject: string): boolean {
    for (const subjects of this.#declared.values()) {
      for (const pattern of subjects) if (matches(pattern, subject)) return true;
    }
    return false;
  }
}

/**
 * Creates memory events over `bus` (normally the memory bus; any {@link Bus} works).
 * `close` drains its consumers but leaves the bus open.
 */
export function createMemoryEventStream(bus: Bus, opts?: MemoryEventStreamOptions): EventStream {
  return new MemoryEventStream(bus, opts?.logger);
}
