/**
 * Where the gateway's rate limiter counts requests: fixed windows (window number =
 * `floor(now / windowMs)`), one counter per client and window.
 *
 * - {@link MemoryRateLimitStore}: in-process (monolith mode, or one gateway).
 * - {@link NatsKvRateLimitStore}: a NATS JetStream key-value bucket shared by every gateway
 *   instance (split mode), so N gateways enforce one limit together rather than N limits.
 */
// Types only at the top: nats.js is loaded by NatsKvRateLimitStore.open (split mode), so a
// monolith's start does not evaluate it.
import type { KV, NatsConnection, NatsError } from "nats";

/** A counter store for {@link RateLimiter}; both implementations are tested against the same cases. */
export interface RateLimitStore {
  /** `"memory"` or `"nats-kv"` (logged at start). */
  readonly kind: string;
  /**
   * Counts one request of client `key` in fixed window number `window`; resolves to the number of
   * requests of that client in that window, this one included (1 for the first).
   * @throws when the store cannot be reached (the caller decides whether to fail open).
   */
  increment(key: string, window: number): Promise<number>;
  /** Releases timers and handles; no further `increment` after it. */
  close(): Promise<void>;
}

/**
 * In-process counters. Only the current window is kept: the map is dropped when a later window
 * starts, so memory is bounded by the number of distinct clients within one window.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly kind = "memory";
  #window = -1;
  #counts = new Map<string, number>();

  increment(key: string, window: number): Promise<number> {
    if (window > this.#window) {
      this.#window = window;
      this.#counts = new Map();
    }
    const n = (this.#counts.get(key) ?? 0) + 1;
    this.#counts.set(key, n);
    return Promise.resolve(n);
  }

  close(): Promise<void> {
    this.#counts.clear();
    return Promise.resolve();
  }
}

/** JetStream's API error for a failed compare-and-set (`Nats-Expected-Last-Subject-Sequence`). */
const WRONG_LAST_SEQUENCE = 10071;

const isCasConflict = (err: unknown, natsError: typeof NatsError): boolean =>
  err instanceof natsError && err.api_error?.err_code === WRONG_LAST_SEQUENCE;

export interface NatsKvRateLimitStoreOptions {
  /** Window length, ms: the bucket's TTL (`max_age`), so counters of past windows disappear. */
  windowMs: number;
  /** Bucket name prefix; the window length in seconds is appended. Default `switchyard_ratelimit`. */
  bucket?: string;
  /** Timeout of one KV operation, ms. Default 2000. */
  timeoutMs?: number;
  /** Compare-and-set attempts before giving up under contention. Default 25. */
  maxAttempts?: number;
}

/**
 * Counters in a JetStream KV bucket (`switchyard_ratelimit_<window>s`, memory storage, history 1,
 * TTL = window). Key `<base64url(client)>.<window>`; an increment is a compare-and-set loop:
 * read the entry, then `create` (absent) or `update(revision)` (present), retried when another
 * writer got in between, so concurrent gateways never lose a count.
 *
 * Concurrent increments of one key in this process are folded into one compare-and-set of +N (each
 * caller still gets its own position), so a burst from one client costs one KV round trip per
 * in-flight batch instead of N contending writers.
 *
 * nats-server 2.9 has no per-message TTL, so expiry is the bucket's `max_age`; the bucket name
 * carries the window so gateways configured with another window never share (and mis-expire) it.
 */
export class NatsKvRateLimitStore implements RateLimitStore {
  readonly kind = "nats-kv";
  readonly #kv: KV;
  readonly #maxAttempts: number;
  readonly #natsError: typeof NatsError;
  readonly #queues = new Map<string, { waiting: { resolve(n: number): void; reject(e: unknown): void }[] }>();
  #closed = false;

  private constructor(kv: KV, maxAttempts: number, natsError: typeof NatsError) {
    this.#kv = kv;
    this.#maxAttempts = maxAttempts;
    this.#natsError = natsError;
  }

  /**
   * Opens (creating when missing) the bucket on `nc`, which stays owned by the caller.
   * @throws when JetStream is unavailable or the bucket cannot be created.
   */
  static async open(nc: NatsConnection, opts: NatsKvRateLimitStoreOptions): Promise<NatsKvRateLimitStore> {
    const { NatsError, StorageType } = await import("nats");
    const timeout = opts.timeoutMs ?? 2000;
    const name = `${opts.bucket ?? "switchyard_ratelimit"}_${Math.ceil(opts.windowMs / 1000)}s`;
    const kv = await nc.jetstream({ timeout }).views.kv(name, {
      history: 1,
      ttl: opts.windowMs,
      storage: StorageType.Memory,
      timeout,
      description: "Switchyard gateway rate-limit counters",
    });
    return new NatsKvRateLimitStore(kv, opts.maxAttempts ?? 25, NatsError);
  }

  increment(key: string, window: number): Promise<number> {
    if (this.#closed) return Promise.reject(new Error("rate-limit store closed"));
    const k = `${Buffer.from(key).toString("base64url")}.${window}`;
    return new Promise<number>((resolve, reject) => {
      const queue = this.#queues.get(k);
      if (queue) return void queue.waiting.push({ resolve, reject });
      const fresh = { waiting: [{ resolve, reject }] };
      this.#queues.set(k, fresh);
      void this.#drain(k, fresh);
    });
  }

  /** Runs batches for key `k` until no caller waits; one batch in flight per key. */
  async #drain(k: string, queue: { waiting: { resolve(n: number): void; reject(e: unknown): void }[] }): Promise<void> {
    while (queue.waiting.length > 0) {
      const batch = queue.waiting.splice(0);
      try {
        const total = await this.#add(k, batch.length);
        for (const [i, w] of batch.entries()) w.resolve(total - batch.length + 1 + i);
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    this.#queues.delete(k);
  }

  /** Adds `n` to key `k` with compare-and-set; resolves to the new total. */
  async #add(k: string, n: number): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      const entry = await this.#kv.get(k);
      const live = entry !== null && entry.operation === "PUT";
      const next = (live ? Number(entry.string()) || 0 : 0) + n;
      try {
        if (live) await this.#kv.update(k, String(next), entry.revision);
        else await this.#kv.create(k, String(next));
        return next;
      } catch (err) {
        if (!isCasConflict(err, this.#natsError) || attempt >= this.#maxAttempts) throw err;
      }
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}
