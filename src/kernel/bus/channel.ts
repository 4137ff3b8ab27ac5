/**
 * A push-to-pull bridge: producers `push` values (bus handlers, timers), one consumer pulls
 * them with `for await`. Used wherever a bus subscription becomes an `AsyncIterable` (live
 * events for GraphQL subscriptions, subscription streams between gateway and subgraphs).
 *
 * - Values are buffered until pulled, up to `maxBuffered`; one more fails the channel with
 *   {@link ChannelOverflowError} (a consumer that cannot keep up must not grow memory forever).
 * - `end()` finishes after the buffered values; `end(err)` makes the consumer's next pull
 *   throw `err` once the buffer is drained.
 * - The consumer leaving (`return()`, a `break` out of `for await`) or the channel ending
 *   runs `onClose` exactly once, to release the producer side (unsubscribe, stop timers).
 */
export class Channel<T> implements AsyncIterableIterator<T> {
  readonly #buffer: T[] = [];
  readonly #maxBuffered: number;
  #waiter: PromiseWithResolvers<IteratorResult<T>> | undefined;
  #ended = false;
  #error: unknown;
  #closed = false;
  readonly #onClose: (() => void) | undefined;

  /**
   * @param opts.maxBuffered values held for a slow consumer before the channel fails (default 1000).
   * @param opts.onClose runs once when the channel ends or the consumer leaves.
   */
  constructor(opts: { maxBuffered?: number; onClose?: () => void } = {}) {
    this.#maxBuffered = opts.maxBuffered ?? 1000;
    this.#onClose = opts.onClose;
  }

  /** True once `end` was called or the consumer left; further pushes are ignored. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Hands a value to the consumer (or buffers it). Ignored after the channel ended. */
  push(value: T): void {
    if (this.#ended) return;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter.resolve({ value, done: false });
      return;
    }
    if (this.#buffer.length >= this.#maxBuffered) {
      this.end(new ChannelOverflowError(this.#maxBuffered));
      return;
    }
    this.#buffer.push(value);
  }

  /** Ends the channel: the consumer gets the buffered values, then `done` (or `err` thrown). Idempotent. */
  end(err?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = err;
    this.#close();
    const waiter = this.#waiter;
    if (waiter && this.#buffer.length === 0) {
      this.#waiter = undefined;
      if (err === undefined) waiter.resolve({ value: undefined, done: true });
      else waiter.reject(err);
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#buffer.length > 0) return Promise.resolve({ value: this.#buffer.shift() as T, done: false });
    if (this.#ended) {
      const err = this.#error;
      if (err !== undefined) {
        // Thrown once; afterwards the iterator is simply done, like a generator that threw.
        this.#error = undefined;
        return Promise.reject(err);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    this.#waiter = Promise.withResolvers<IteratorResult<T>>();
    return this.#waiter.promise;
  }

  /** The consumer leaves: buffered values are dropped and the producer released. */
  return(): Promise<IteratorResult<T>> {
    this.#buffer.length = 0;
    this.#error = undefined;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Ends the channel with `err` (the consumer's next pull throws it). */
  throw(err?: unknown): Promise<IteratorResult<T>> {
    this.#buffer.length = 0;
    this.end(err ?? new Error("channel aborted"));
    return this.next();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose?.();
  }
}

/** The consumer fell more than `maxBuffered` values behind. */
export class ChannelOverflowError extends Error {
  override readonly name = "ChannelOverflowError";
  constructor(readonly maxBuffered: number) {
    super(`consumer fell more than ${maxBuffered} messages behind`);
  }
}
