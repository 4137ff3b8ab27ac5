/**
 * Counts running async handlers and lets callers wait until none are left: the drain step of
 * every transport (memory bus, NATS bus, event streams) waits on it before closing.
 */
export class Inflight {
  #count = 0;
  #waiters: Array<() => void> = [];

  /** Handlers running right now. */
  get count(): number {
    return this.#count;
  }

  enter(): void {
    this.#count++;
  }

  leave(): void {
    if (--this.#count === 0 && this.#waiters.length > 0) {
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Resolves once no handler is running (at once when none is). */
  idle(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

/** Lifecycle of a transport: open → draining (no new work, in-flight finishes) → closed. */
export const OPEN = 0;
export const DRAINING = 1;
export const CLOSED = 2;
export type TransportState = typeof OPEN | typeof DRAINING | typeof CLOSED;
