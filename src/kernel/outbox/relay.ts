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
   * Test-only fault injection (`FAULT_INJECT`): `outbox.after_commit` or
   * `outbox.after_commit:<subject>` makes the process die by SIGKILL right after a transaction
   * carrying such an event committed, before the relay published it.
   */
  faultInject?: string | undefined;
}

/** Observable counters of one relay. */
export interface OutboxRelayStats {
  published: number;
  failures: number;
}

/**
 * Publishes a module's outbox through the kernel's `EventStream` (JetStream with
 * `Nats-Msg-Id` = event id on NATS, the memory events in one process): woken by the store's
 * `committed()` right after each commit, plus every `pollMs`. One pass at a time per relay;
 * a publish failure stops the pass (order is kept) and the next poll retries.
 */
export class OutboxRelay {
  readonly stats: OutboxRelayStats = { published: 0, failures: 0 };
  readonly #o: Required<Omit<OutboxRelayOptions, "faultInject">> & { faultInject: string | undefined };
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | undefined;
  /** Callers waiting for the next pass to finish. */
  #waiters: (() => void)[] = [];
  #stopped = false;
  #lastPrune = 0;
  #lastError = "";

  constructor(opts: OutboxRelayOptions) {
    this.#o = { pollMs: 1000, batchSize: 100, retainSentMs: 3_600_000, ...opts, faultInject: opts.faultInject };
  }

  /** Starts polling and runs a first pass at once (publishes what a previous process left). */
  start(): void {
    this.#o.source.setListener((subjects) => this.#onCommit(subjects));
    this.#timer = setInterval(() => void this.wake(), this.#o.pollMs);
    void this.wake();
  }

  /**
   * Runs a pass now (or right after the running one, which may have read the table before the
   * caller's commit). Resolves when a pass that started after this call finished.
   */
  wake(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.#waiters.push(resolve));
    if (!this.#running) this.#startPass();
    return done;
  }

  /** Stops polling and waits for the running pass; unsent rows stay for the next start. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running;
    for (const w of this.#waiters.splice(0)) w();
  }

  #startPass(): void {
    const waiters = this.#waiters.splice(0);
    this.#running = this.#pass().finally(() => {
      for (const w of waiters) w();
      this.#running = undefined;
      if (this.#waiters.length > 0 && !this.#stopped) this.#startPass();
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
