import { encodeText } from "../bus/codec.ts";
import type { EventStream } from "../events/types.ts";
import type { Logger } from "../logger.ts";
import { eventsPublished } from "../metrics.ts";
import type { OutboxRecord, OutboxSource } from "./types.ts";

export interface OutboxRelayOptions {
  source: OutboxSource;
  events: EventStream;
  logger: Logger;
  /** Poll interval, ms: catches rows a wake-up missed (another instance's commit, a failed publish). Default 1000. */
  pollMs?: number;
  /** Rows per batch; default 100. */
  batchSize?: number;
  /** Sent rows are deleted after this long, ms; default 1 h. */
  retainSentMs?: number;
  /**
   * Least time between the starts of two passes, ms; default {@link DEFAULT_MIN_PASS_INTERVAL_MS}.
   * A wake-up after a quiet spell starts a pass at once; under load, the commits of this
   * interval share one pass (one SELECT and one mark instead of one each per commit).
   */
  minPassIntervalMs?: number;
  /**
   * Test-only fault injection (`FAULT_INJECT`): `outbox.after_commit` or
   * `outbox.after_commit:<subject>` makes the process die by SIGKILL right after a transaction
   * carrying such an event committed, before the relay published it.
   */
  faultInject?: string | undefined;
}

/**
 * Default of {@link OutboxRelayOptions.minPassIntervalMs}. With a pass per commit, the relay's
 * SELECT and mark-sent were ~1/3 of the SQLite work of a createOrder (two outboxes per order:
 * order.created, catalog.stock_changed); 5 ms adds at most that much publish latency, and
 * only when a pass just ran.
 */
export const DEFAULT_MIN_PASS_INTERVAL_MS = 5;

/** Observable counters of one relay. */
export interface OutboxRelayStats {
  published: number;
  failures: number;
  /** Passes run (each reads the unsent rows once). */
  passes: number;
}

/**
 * Publishes a module's outbox through the kernel's `EventStream` (JetStream with
 * `Nats-Msg-Id` = event id on NATS, the memory events in one process): woken by the store's
 * `committed()` right after each commit, plus every `pollMs`. One pass at a time per relay,
 * passes at least `minPassIntervalMs` apart (commits in between share the next pass);
 * a publish failure stops the pass (order is kept) and the next poll retries.
 */
export class OutboxRelay {
  readonly stats: OutboxRelayStats = { published: 0, failures: 0, passes: 0 };
  readonly #o: Required<Omit<OutboxRelayOptions, "faultInject">> & { faultInject: string | undefined };
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | undefined;
  /** The next pass, when it waits for `minPassIntervalMs`. */
  #scheduled: ReturnType<typeof setTimeout> | undefined;
  /** When the last pass started (`performance.now()`, ms). */
  #lastPassStart = -Infinity;
  /** Callers waiting for the next pass to finish. */
  #waiters: (() => void)[] = [];
  #stopped = false;
  #lastPrune = 0;
  #lastError = "";

  constructor(opts: OutboxRelayOptions) {
    this.#o = {
      pollMs: 1000,
      batchSize: 100,
      retainSentMs: 3_600_000,
      minPassIntervalMs: DEFAULT_MIN_PASS_INTERVAL_MS,
      ...opts,
      faultInject: opts.faultInject,
    };
  }

  /** Starts polling and runs a first pass at once (publishes what a previous process left). */
  start(): void {
    this.#o.source.setListener((subjects) => this.#onCommit(subjects));
    this.#timer = setInterval(() => void this.wake(), this.#o.pollMs);
    void this.wake();
  }

  /**
   * Runs a pass now, or once the running one finished (it may have read the table before the
   * caller's commit) and `minPassIntervalMs` passed since it started. Resolves when a pass
   * that started after this call finished.
   */
  wake(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#schedule();
    return done;
  }

  /** Stops polling and waits for the running pass; unsent rows stay for the next start. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    clearTimeout(this.#scheduled);
    this.#scheduled = undefined;
    await this.#running;
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Starts a pass for the current waiters now, or when the interval allows; no-op when one is running or due. */
  #schedule(): void {
    if (this.#running || this.#scheduled) return;
    const wait = this.#lastPassStart + this.#o.minPassIntervalMs - performance.now();
    if (wait <= 0) {
      this.#startPass();
      return;
    }
    this.#scheduled = setTimeout(() => {
      this.#scheduled = undefined;
      if (!this.#stopped) this.#startPass();
    }, wait);
  }

  #startPass(): void {
    this.#lastPassStart = performance.now();
    this.stats.passes++;
    const waiters = this.#waiters.splice(0);
    this.#running = this.#pass().finally(() => {
      for (const w of waiters) w();
      this.#running = undefined;
      if (this.#waiters.length > 0 && !this.#stopped) this.#schedule();
    });
  }

  #onCommit(subjects: readonly string[]): Promise<void> {
    const f = this.#o.faultInject;
    if (f && (f === "outbox.after_commit" || subjects.some((s) => f === `outbox.after_commit:${s}`))) {
      // Test-only: simulate a crash between the commit and the publish.
      this.#o.logger.warn({ subjects, fault: f }, "FAULT_INJECT: killing the process after the outbox commit");
      process.kill(process.pid, "SIGKILL");
    }
    return this.wake();
  }

  async #pass(): Promise<void> {
    const { source, events, batchSize } = this.#o;
    const publish = (r: OutboxRecord): Promise<void> =>
      events.publish(r.subject, encodeText(r.payload), { eventId: r.eventId, headers: r.headers }).then(
        () => void eventsPublished.inc({ subject: r.subject, outcome: "ok" }),
        (err: unknown) => {
          eventsPublished.inc({ subject: r.subject, outcome: "error" });
          throw err;
        },
      );
    try {
      for (;;) {
        if (this.#stopped) return;
        const n = await source.relayBatch(batchSize, publish);
        this.stats.published += n;
        if (n < batchSize) break;
      }
      if (this.#lastError) {
        this.#o.logger.info("outbox relay publishing again");
        this.#lastError = "";
      }
      if (Date.now() - this.#lastPrune > 60_000) {
        this.#lastPrune = Date.now();
        await source.prune(this.#o.retainSentMs);
      }
    } catch (err) {
      this.stats.failures++;
      const reason = err instanceof Error ? err.message : String(err);
      // One line per new reason: a NATS outage would otherwise log once per poll.
      if (reason !== this.#lastError) {
        this.#lastError = reason;
        this.#o.logger.warn({ err }, "outbox relay could not publish; retrying at the next poll");
      }
    }
  }
}
