/**
 * Durable events on NATS JetStream (https://docs.nats.io/nats-concepts/jetstream).
 *
 * - One stream per publishing module, `EVENTS_<MODULE>`, holding exactly the subjects it
 *   declares: file storage, limits retention, 2 min duplicate window, so republishing an event
 *   with the same id (`Nats-Msg-Id`) is stored once
 *   (https://docs.nats.io/using-nats/developer/develop_jetstream/model_deep_dive#message-deduplication).
 * - `publish` awaits the stream's publish ack: resolved means stored.
 * - One durable PULL consumer per consuming module and subject, `<durable>__<subject>`
 *   ({@link consumerName}), explicit ack, deliver policy `all`: a consumer created after events
 *   were stored still gets them, and one that was down resumes where it stopped.
 *
 * Why pull and not a push consumer with a deliver group: nats.js 2.29's consumer API
 * (`js.consumers.get().consume()`) only does pull (push needs the legacy, deprecated
 * `js.subscribe`); every instance of a module simply runs `consume()` on the same durable and the
 * server hands each event to one of them, with no deliver subject or queue name to keep in sync;
 * the client only asks for as many events as it can run (`maxInFlight`), so a slow instance does
 * not hoard events; and `consume()` re-pulls by itself after reconnects, watching heartbeats.
 * NATS recommends pull consumers for new work-queue style code
 * (https://docs.nats.io/using-nats/developer/develop_jetstream/consumers#pull-consumers).
 *
 * Outcome of a handler: resolve → `ack`; reject → `nak` with `retryDelayMs` delay, or `term` once
 * `maxDeliver` deliveries were made (logged). While a handler runs the client sends
 * "in progress" acks every `ackWaitMs / 2`, so only a dead process lets `ack_wait` expire.
 */

import {
  AckPolicy,
  ConsumerEvents,
  DeliverPolicy,
  ErrorCode,
  NatsError,
  RetentionPolicy,
  StorageType,
  headers as natsHeaders,
  nanos,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
} from "nats";
import { EMPTY, decodeJson } from "../bus/codec.ts";
import { BusClosedError, BusError, EventPublishError } from "../bus/errors.ts";
import { fromNatsHeaders, natsLink, type NatsLink } from "../bus/nats.ts";
import { validatePattern, validateSubject } from "../bus/subject.ts";
import type { Headers, Subscription } from "../bus/types.ts";
import { Inflight, checkEventId, consumeSettings, eventHeaders, safeLog, type ConsumeSettings, type EventLogger } from "./memory.ts";
import { EVENT_ID_HEADER, type ConsumeOptions, type EventMsg, type EventStream, type PublishEventOptions } from "./types.ts";

export { consumerName } from "./memory.ts";

export interface JetStreamEventsOptions {
  /** Receives consumer lifecycle messages, handler failures and give-ups. */
  logger?: EventLogger;
  /** Stream replicas (`num_replicas`), 1..5; default 1. Use 3 on a clustered JetStream. */
  replicas?: number;
  /** Wait for a publish ack, ms; default 5000. */
  publishTimeoutMs?: number;
  /** Wait between attempts to attach a consumer whose stream is not declared yet, ms; default 1000. */
  retryIntervalMs?: number;
}

/** `ConsumeOptions.ackWaitMs` default, ms (the JetStream default too). */
export const DEFAULT_ACK_WAIT_MS = 30_000;
/** `ConsumeOptions.maxInFlight` default. */
export const DEFAULT_MAX_IN_FLIGHT = 16;
/** Stream duplicate window, ms: republishing an event id within it is stored once. */
export const DUPLICATE_WINDOW_MS = 120_000;

/** `EVENTS_<MODULE>`: upper case, every character outside `[A-Z0-9]` → `_`. `"order"` → `EVENTS_ORDER`. */
export function streamName(module: string): string {
  return `EVENTS_${module.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

/** JetStream API error code: stream name already in use with a different configuration. */
const JS_ERR_STREAM_NAME_IN_USE = 10058;

function apiErrorOf(err: unknown): { code: number; err_code?: number; description: string } | undefined {
  const api = (err as { api_error?: { code: number; err_code?: number; description: string } } | null)?.api_error;
  return api !== undefined && typeof api.description === "string" ? api : undefined;
}

function isClosedError(err: unknown): boolean {
  return (
    err instanceof BusClosedError ||
    (err instanceof NatsError && (err.code === ErrorCode.ConnectionClosed || err.code === ErrorCode.ConnectionDraining))
  );
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function withCause<E extends Error>(err: E, cause: unknown): E {
  (err as { cause?: unknown }).cause = cause;
  return err;
}

/** Maps a `js.publish` failure (https://docs.nats.io/reference/reference-protocols/nats_api_reference). */
function publishError(err: unknown, subject: string): Error {
  if (isClosedError(err)) return new BusClosedError();
  const api = apiErrorOf(err);
  if (api !== undefined) return withCause(new EventPublishError(subject, "rejected", api.description), err);
  if (err instanceof NatsError) {
    // 503: no stream listens on the subject (and no JetStream responder at all).
    if (err.code === ErrorCode.NoResponders) {
      return withCause(new EventPublishError(subject, "no_stream", "no stream stores this subject"), err);
    }
    if (err.code === ErrorCode.Timeout) return withCause(new EventPublishError(subject, "timeout", "no publish ack"), err);
  }
  return withCause(new EventPublishError(subject, "rejected", message(err)), err);
}

class JsEventMsg implements EventMsg {
  constructor(
    readonly subject: string,
    readonly data: Uint8Array,
    readonly headers: Headers,
    readonly eventId: string,
    readonly deliveryCount: number,
  ) {}

  json<T>(): T {
    return decodeJson<T>(this.data);
  }
}

function toEventMsg(m: JsMsg): JsEventMsg {
  const headers = fromNatsHeaders(m.headers);
  const info = m.info;
  // Messages stored by a plain publish carry no id: stream + sequence is stable across redeliveries.
  const eventId = headers[EVENT_ID_HEADER] ?? `${info.stream}:${info.streamSequence}`;
  return new JsEventMsg(m.subject, m.data.length === 0 ? EMPTY : m.data, headers, eventId, info.deliveryCount);
}

const OPEN = 0;
const DRAINING = 1;
const CLOSED = 2;
type State = typeof OPEN | typeof DRAINING | typeof CLOSED;

interface JsSettings extends ConsumeSettings {
  ackWaitMs: number;
  maxInFlight: number;
}

/** What a consumer needs from its event stream. */
interface ConsumerHost {
  readonly js: JetStreamClient;
  readonly logger: EventLogger | undefined;
  readonly retryIntervalMs: number;
  manager(): Promise<JetStreamManager>;
  forget(c: JsConsumer): void;
}

/**
 * One `consume` call: a background loop that (re)attaches to the durable pull consumer and runs
 * handlers, at most `maxInFlight` at a time.
 */
class JsConsumer implements Subscription {
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

class JetStreamEvents implements EventStream {
  readonly kind = "jetstream";
  readonly #nc: NatsConnection;
  readonly #link: NatsLink;
  readonly #js: JetStreamClient;
  readonly #logger: EventLogger | undefined;
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
    const name = streamName(module);
    try {
      const jsm = await this.#manager();
      const wanted = { subjects: [...subjects], duplicate_window: nanos(DUPLICATE_WINDOW_MS) };
      try {
        await jsm.streams.add({
          name,
          ...wanted,
          storage: StorageType.File,
          retention: RetentionPolicy.Limits,
          num_replicas: this.#replicas,
        });
      } catch (err) {
        if (apiErrorOf(err)?.err_code !== JS_ERR_STREAM_NAME_IN_USE) throw err;
        // Exists with another config (the module's subjects changed): update what may change.
        await jsm.streams.update(name, wanted);
      }
    } catch (err) {
      if (isClosedError(err)) throw new BusClosedError();
      throw withCause(
        new BusError(
          "EVENTS_DECLARE_FAILED",
          `cannot declare stream ${name} for ${subjects.join(", ")}: ${apiErrorOf(err)?.description ?? message(err)}`,
        ),
        err,
      );
    }
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

/**
 * Creates JetStream events on an open NATS connection (normally `NatsBus.connection`). `close`
 * stops consumers but leaves the connection open (the bus owns it).
 * @throws RangeError when `replicas` is not an integer 1..5.
 */
export function createJetStreamEvents(nc: NatsConnection, opts: JetStreamEventsOptions = {}): EventStream {
  return new JetStreamEvents(nc, opts);
}
