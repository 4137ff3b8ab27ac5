/** One bus subscription on NATS: its state, its running handlers and its drain. */

import type { Subscription as NatsSubscription } from "nats";
import { CLOSED, DRAINING, Inflight, OPEN, type TransportState as State } from "../inflight.ts";
import type { Subscription } from "../types.ts";
import { settledWithin } from "./settled.ts";

/** A {@link Subscription} over a nats.js subscription; the bus delivers to it and counts its handlers. */
export class NatsBusSubscription implements Subscription {
  state: State = OPEN;
  readonly inflight = new Inflight();
  #drained: Promise<void> | undefined;
  /** Set right after the nats.js subscription exists (the callback never runs before that). */
  native!: NatsSubscription;

  /**
   * @param forget removes this subscription from its bus once closed.
   * @param drainTimeoutMs cap on the UNSUB + PING/PONG part of `drain`, ms.
   */
  constructor(
    readonly subject: string,
    readonly queue: string | undefined,
    private readonly forget: (sub: NatsBusSubscription) => void,
    private readonly drainTimeoutMs: number,
  ) {}

  unsubscribe(): void {
    if (this.state === CLOSED) return;
    this.state = CLOSED;
    this.forget(this);
    try {
      this.native.unsubscribe();
    } catch {
      // The connection is already closed: there is nothing left to unsubscribe from.
    }
  }

  /**
   * Stops delivery (UNSUB, then a PING/PONG so messages the server sent before it are handled),
   * then waits for running handlers. Do not await it inside this subscription's own handler.
   */
  drain(): Promise<void> {
    if (this.#drained !== undefined) return this.#drained;
    if (this.state === CLOSED) return this.inflight.idle();
    this.state = DRAINING;
    this.#drained = this.#finishDrain();
    return this.#drained;
  }

  async #finishDrain(): Promise<void> {
    let native: Promise<void>;
    try {
      native = this.native.drain();
    } catch {
      // Closed connection or subscription: no more messages can arrive anyway.
      native = Promise.resolve();
    }
    // Rejections (closed connection) mean nothing more can arrive; a disconnect would stall the PING.
    await settledWithin(native, this.drainTimeoutMs);
    await this.inflight.idle();
    if (this.state !== CLOSED) {
      this.state = CLOSED;
      this.forget(this);
    }
  }
}
