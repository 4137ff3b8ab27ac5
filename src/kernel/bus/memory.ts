/**
 * In-process bus transport: the default in single-binary mode, and the reference the NATS
 * transport is held to by the shared contract suite (tests/contract/bus.contract.ts).
 *
 * It mirrors core NATS semantics (https://docs.nats.io/nats-concepts/core-nats):
 * - delivery is asynchronous: publish only routes and enqueues; handlers run from a per-bus
 *   queue drained in a microtask, never on the publisher's stack. One FIFO queue per bus keeps
 *   the order of messages from one publisher to one subscriber;
 * - routing happens at publish time (as the server does): queue-group members are chosen then,
 *   and a message published before a `subscribe` is never delivered to it;
 * - request/reply uses a unique `_INBOX.` subject per request; a request nobody subscribes to
 *   fails at once with `NoRespondersError` (the NATS 503 status);
 * - `unsubscribe` drops messages already routed but not yet handled; `drain` delivers them first
 *   (nats.js behaviour), then waits for running handlers.
 * Payload bytes and headers are copied per recipient, so neither side can mutate the other's view
 * (on NATS the wire does that copy). A {@link JsonPayload} goes to its recipient as the value
 * itself when there is exactly one (a request, a reply, a queue group): no JSON round trip in
 * process; with several recipients each decodes its own copy.
 */

import { EMPTY, JsonPayload } from "./codec.ts";
import { BusClosedError, BusTimeoutError, InvalidSubjectError, NoRespondersError } from "./errors.ts";
import { hasWildcard, matches, validatePattern, validateSubject } from "./subject.ts";
import type { Bus, Headers, Msg, MsgHandler, Payload, PublishOptions, RequestOptions, SubscribeOptions, Subscription } from "./types.ts";
import { BusMsg, requestTimeoutMs } from "./msg.ts";
import { Inflight, OPEN, DRAINING, CLOSED, type TransportState as State } from "./inflight.ts";
import { type LogSink, safeLog } from "../logger.ts";

export interface MemoryBusOptions {
  /** Receives handler errors (`{ err, subject, pattern, queue }`); errors are dropped without one. */
  logger?: Pick<LogSink, "warn">;
}

/** Route cache entries before the cache is reset (bounds memory for high-cardinality subjects). */
const ROUTE_CACHE_MAX = 1024;
/**
 * Deliveries per queue run before yielding to the event loop with `setImmediate`: microtasks
 * alone would starve timers (request timeouts) and I/O during a publish storm.
 */
const BATCH = 10_000;
const INBOX = "_INBOX.";

/** What a subscription needs from its bus (kept off MemoryBus's public surface). */
interface SubscriptionHost {
  /** Stops routing new messages to `sub`. */
  unindex(sub: MemorySubscription): void;
  /** Forgets `sub` entirely (after unsubscribe or a finished drain). */
  forget(sub: MemorySubscription): void;
  /** Resolves once every delivery queued so far has run. */
  settle(): Promise<void>;
}

class MemorySubscription implements Subscription {
  state: State = OPEN;
  readonly inflight = new Inflight();
  readonly wildcard: boolean;
  readonly #host: SubscriptionHost;
  #drained: Promise<void> | undefined;

  constructor(
    readonly subject: string,
    readonly queue: string | undefined,
    readonly handler: MsgHandler,
    host: SubscriptionHost,
  ) {
    this.wildcard = hasWildcard(subject);
    this.#host = host;
  }

  unsubscribe(): void {
    if (this.state === CLOSED) return;
    const wasOpen = this.state === OPEN;
    this.state = CLOSED;
    if (wasOpen) this.#host.unindex(this);
    this.#host.forget(this);
  }

  /**
   * Stops routing, delivers messages already routed here, then waits for running handlers.
   * Do not await it inside this subscription's own handler: it would wait for itself.
   */
  drain(): Promise<void> {
    if (this.#drained !== undefined) return this.#drained;
    if (this.state === CLOSED) return this.inflight.idle();
    this.state = DRAINING;
    this.#host.unindex(this);
    this.#drained = this.#finishDrain();
    return this.#drained;
  }

  async #finishDrain(): Promise<void> {
    // Already-routed messages are still delivered while DRAINING, then running handlers settle.
    await this.#host.settle();
    await this.inflight.idle();
    if (this.state !== CLOSED) {
      this.state = CLOSED;
      this.#host.forget(this);
    }
  }
}

interface QueueRoute {
  readonly members: MemorySubscription[];
  next: number;
}

/** The subscriptions a concrete subject reaches, computed once per subject and cached. */
interface Route {
  readonly plain: MemorySubscription[];
  readonly groups: QueueRoute[];
}

const NO_ROUTE: Route = { plain: [], groups: [] };

interface PendingRequest {
  resolve(msg: Msg): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

function copyBytes(data: Payload): Payload {
  if (data instanceof JsonPayload) return data;
  if (data.length === 0) return EMPTY;
  const copy = new Uint8Array(data.length);
  copy.set(data);
  return copy;
}

function copyHeaders(headers: Headers | undefined): Headers {
  return headers === undefined ? {} : { ...headers };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null && (typeof value === "object" || typeof value === "function") && typeof (value as { then?: unknown }).then === "function"
  );
}

function randomToken(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

/** The in-memory {@link Bus}. Each instance is an isolated "server"; nothing is shared between instances. */
export class MemoryBus implements Bus {
  readonly transport = "memory";

  readonly #logger: Pick<LogSink, "warn"> | undefined;
  #state: State = OPEN;
  #drain: Promise<void> | undefined;

  /** Live subscriptions (OPEN or DRAINING); only OPEN ones are in the routing indexes. */
  readonly #subs = new Set<MemorySubscription>();
  readonly #exact = new Map<string, Set<MemorySubscription>>();
  readonly #wild = new Set<MemorySubscription>();
  readonly #routes = new Map<string, Route>();
  /** Async handlers still running, across all subscriptions (for `drain`). */
  readonly #inflight = new Inflight();

  /** Delivery queue as parallel arrays; a `undefined` subscription marks a flush callback. */
  #qSub: Array<MemorySubscription | undefined> = [];
  #qItem: Array<BusMsg | (() => void)> = [];
  #qHead = 0;
  #scheduled = false;

  readonly #inboxPrefix = `${INBOX}${randomToken()}.`;
  #inboxSeq = 0;
  readonly #pending = new Map<string, PendingRequest>();

  readonly #host: SubscriptionHost = {
    unindex: (sub) => this.#unindex(sub),
    forget: (sub) => {
      this.#subs.delete(sub);
    },
    settle: () => this.#settle(),
  };

  constructor(opts?: MemoryBusOptions) {
    this.#logger = opts?.logger;
  }

  /** True from the first `drain` or `close` call on. */
  get closed(): boolean {
    return this.#state !== OPEN;
  }

  /**
   * Publishes asynchronously. Allowed while draining, so running handlers can still reply.
   * @throws BusClosedError once closed; InvalidSubjectError for a bad subject or reply subject.
   */
  publish(subject: string, data?: Payload, opts?: PublishOptions): void {
    if (this.#state === CLOSED) throw new BusClosedError();
    const route = this.#route(subject);
    const reply = opts?.reply;
    if (reply !== undefined) validateSubject(reply);
    this.#dispatch(subject, data ?? EMPTY, opts?.headers, reply, route);
  }

  /**
   * Subscribes to a subject or pattern (`*`, `>`), optionally in a queue group.
   * @throws BusClosedError once closed or draining; InvalidSubjectError for a bad pattern or an
   *   empty / whitespace-containing queue name.
   */
  subscribe(subject: string, handler: MsgHandler, opts?: SubscribeOptions): Subscription {
    if (this.#state !== OPEN) throw new BusClosedError();
    validatePattern(subject);
    const queue = opts?.queue;
    if (queue !== undefined && (queue.length === 0 || /\s/.test(queue))) {
      throw new InvalidSubjectError(subject, `invalid queue group name "${queue}"`);
    }
    const sub = new MemorySubscription(subject, queue, handler, this.#host);
    this.#subs.add(sub);
    if (sub.wildcard) {
      this.#wild.add(sub);
    } else {
      let set = this.#exact.get(subject);
      if (set === undefined) this.#exact.set(subject, (set = new Set()));
      set.add(sub);
    }
    this.#routes.clear();
    return sub;
  }

  /**
   * Sends a request on a fresh `_INBOX.` subject and resolves with the first reply.
   * Rejects with InvalidSubjectError, RangeError (timeoutMs not a positive finite number),
   * NoRespondersError (no subscription matches now), BusTimeoutError (no reply within
   * `timeoutMs`, default 5000 ms) or BusClosedError (closed before or while waiting).
   */
  request(subject: string, data?: Payload, opts?: RequestOptions): Promise<Msg> {
    if (this.#state === CLOSED) return Promise.reject(new BusClosedError());
    const timeoutMs = requestTimeoutMs(opts);
    if (timeoutMs instanceof RangeError) return Promise.reject(timeoutMs);
    let route: Route;
    try {
      route = this.#route(subject);
    } catch (err) {
      return Promise.reject(err);
    }
    if (route.plain.length === 0 && route.groups.length === 0) {
      return Promise.reject(new NoRespondersError(subject));
    }
    const inbox = this.#inboxPrefix + (++this.#inboxSeq).toString(36);
    const { promise, resolve, reject } = Promise.withResolvers<Msg>();
    const timer = setTimeout(() => {
      if (this.#pending.delete(inbox)) reject(new BusTimeoutError(subject, timeoutMs));
    }, timeoutMs);
    this.#pending.set(inbox, { resolve, reject, timer });
    this.#dispatch(subject, data ?? EMPTY, opts?.headers, inbox, route);
    return promise;
  }

  /**
   * Resolves once every delivery queued before the call has been handed to its handler (async
   * handlers may still be running). Rejects with BusClosedError once closed.
   */
  flush(): Promise<void> {
    if (this.#state === CLOSED) return Promise.reject(new BusClosedError());
    return this.#settle();
  }

  /**
   * Stops new subscriptions, drains every subscription (already-routed messages are delivered,
   * running handlers awaited; publishing stays allowed meanwhile), then closes. Idempotent: a
   * second call returns the same promise; after `close` it resolves at once.
   */
  drain(): Promise<void> {
    if (this.#drain !== undefined) return this.#drain;
    if (this.#state === CLOSED) return Promise.resolve();
    this.#state = DRAINING;
    this.#drain = this.#finishDrain();
    return this.#drain;
  }

  /** Closes at once: queued deliveries are dropped, pending requests reject with BusClosedError. Idempotent. */
  close(): Promise<void> {
    this.#closeNow();
    return Promise.resolve();
  }

  async #finishDrain(): Promise<void> {
    await Promise.all(Array.from(this.#subs, (sub) => sub.drain()));
    // Handlers of subscriptions unsubscribed earlier may still be running too.
    await this.#inflight.idle();
    this.#closeNow();
  }

  #closeNow(): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    for (const sub of this.#subs) sub.state = CLOSED;
    this.#subs.clear();
    this.#exact.clear();
    this.#wild.clear();
    this.#routes.clear();
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new BusClosedError());
    }
    this.#pending.clear();
  }

  #unindex(sub: MemorySubscription): void {
    if (sub.wildcard) {
      this.#wild.delete(sub);
    } else {
      const set = this.#exact.get(sub.subject);
      if (set?.delete(sub) && set.size === 0) this.#exact.delete(sub.subject);
    }
    this.#routes.clear();
  }

  /** Returns the cached route for a subject, validating the subject on a cache miss. */
  #route(subject: string): Route {
    const cached = this.#routes.get(subject);
    if (cached !== undefined) return cached;
    validateSubject(subject);
    const route = this.#computeRoute(subject);
    // Inbox subjects are single-use: caching them would only evict useful entries.
    if (!subject.startsWith(INBOX)) {
      if (this.#routes.size >= ROUTE_CACHE_MAX) this.#routes.clear();
      this.#routes.set(subject, route);
    }
    return route;
  }

  #computeRoute(subject: string): Route {
    let plain: MemorySubscription[] | undefined;
    let groups: Map<string, MemorySubscription[]> | undefined;
    const add = (sub: MemorySubscription): void => {
      if (sub.queue === undefined) {
        (plain ??= []).push(sub);
        return;
      }
      groups ??= new Map();
      const members = groups.get(sub.queue);
      if (members === undefined) groups.set(sub.queue, [sub]);
      else members.push(sub);
    };
    const exact = this.#exact.get(subject);
    if (exact !== undefined) for (const sub of exact) add(sub);
    for (const sub of this.#wild) if (matches(sub.subject, subject)) add(sub);
    if (plain === undefined && groups === undefined) return NO_ROUTE;
    return {
      plain: plain ?? [],
      // A random starting member avoids always favouring the first one when routes are rebuilt often.
      groups:
        groups === undefined
          ? []
          : Array.from(groups.values(), (members) => ({
              members,
              next: Math.floor(Math.random() * members.length),
            })),
    };
  }

  #dispatch(subject: string, payload: Payload, headers: Headers | undefined, reply: string | undefined, route: Route): void {
    const pending = this.#pending.size > 0 ? this.#pending.get(subject) : undefined;
    // A JSON value is handed over only to a single recipient; several get copies of its bytes.
    const recipients = (pending === undefined ? 0 : 1) + route.plain.length + route.groups.length;
    const data = payload instanceof JsonPayload && recipients > 1 ? payload.bytes() : payload;
    if (pending !== undefined) {
      // First reply wins; promise resolution already defers the requester past this stack.
      this.#pending.delete(subject);
      clearTimeout(pending.timer);
      pending.resolve(new BusMsg(subject, copyBytes(data), copyHeaders(headers), reply, this));
    }
    for (const sub of route.plain) {
      this.#enqueue(sub, new BusMsg(subject, copyBytes(data), copyHeaders(headers), reply, this));
    }
    for (const group of route.groups) {
      const members = group.members;
      const sub = members[group.next++ % members.length];
      if (sub !== undefined) {
        this.#enqueue(sub, new BusMsg(subject, copyBytes(data), copyHeaders(headers), reply, this));
      }
    }
  }

  #enqueue(sub: MemorySubscription | undefined, item: BusMsg | (() => void)): void {
    this.#qSub.push(sub);
    this.#qItem.push(item);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#run);
    }
  }

  #settle(): Promise<void> {
    if (!this.#scheduled) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#enqueue(undefined, resolve);
    return promise;
  }

  /** Drains the delivery queue in FIFO order, including items handlers add while it runs. */
  readonly #run = (): void => {
    const subs = this.#qSub;
    const items = this.#qItem;
    let budget = BATCH;
    while (this.#qHead < subs.length) {
      if (budget-- === 0) {
        subs.splice(0, this.#qHead);
        items.splice(0, this.#qHead);
        this.#qHead = 0;
        setImmediate(this.#run);
        return;
      }
      const i = this.#qHead++;
      const sub = subs[i];
      const item = items[i];
      if (item === undefined) continue;
      if (sub === undefined) {
        (item as () => void)();
      } else {
        this.#deliver(sub, item as BusMsg);
      }
    }
    subs.length = 0;
    items.length = 0;
    this.#qHead = 0;
    this.#scheduled = false;
  };

  #deliver(sub: MemorySubscription, msg: BusMsg): void {
    if (sub.state === CLOSED) return;
    let result: unknown;
    try {
      result = sub.handler(msg);
    } catch (err) {
      this.#report(err, sub, msg);
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
        this.#report(err, sub, msg);
        sub.inflight.leave();
        this.#inflight.leave();
      },
    );
  }

  #report(err: unknown, sub: MemorySubscription, msg: BusMsg): void {
    safeLog(this.#logger, "warn", { err, subject: msg.subject, pattern: sub.subject, queue: sub.queue }, "bus handler failed");
  }
}

/** Creates a new, isolated in-memory bus (no state is shared between calls). */
export function createMemoryBus(opts?: MemoryBusOptions): Bus {
  return new MemoryBus(opts);
}
