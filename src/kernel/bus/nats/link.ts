/**
 * Link state of a nats.js connection: up, down (reconnecting) or closed, from its status events
 * (https://docs.nats.io/using-nats/developer/events/events). nats.js v2 drops what is handed to
 * it while disconnected, so the bus and JetStream events ask the link before sending and hold
 * their work until it is back.
 */

import { Events, type NatsConnection, type Status } from "nats";

/** Connection state as the status events report it; 'closed' is final. */
export type LinkState = "connected" | "disconnected" | "closed";

/**
 * Tracks whether a nats.js connection is up, so callers can hold work until a reconnect instead
 * of handing it to a client that would drop it. One per connection ({@link natsLink}); the bus
 * and JetStream events share it.
 */
export class NatsLink {
  #state: LinkState = "connected";
  #waiters = new Set<() => void>();
  readonly #reconnectHooks = new Set<() => void>();
  readonly #statusHooks = new Set<(s: Status) => void>();

  constructor(nc: NatsConnection) {
    if (nc.isClosed()) this.#state = "closed";
    void this.#watch(nc);
    void nc.closed().then(() => this.#set("closed"));
  }

  get state(): LinkState {
    return this.#state;
  }

  /** Runs `hook` on every reconnect, before waiters wake (so queued work goes out first). */
  onReconnect(hook: () => void): () => void {
    this.#reconnectHooks.add(hook);
    return () => this.#reconnectHooks.delete(hook);
  }

  /** Runs `hook` for every status event (for logging). */
  onStatus(hook: (s: Status) => void): () => void {
    this.#statusHooks.add(hook);
    return () => this.#statusHooks.delete(hook);
  }

  /** Resolves with the state once it is not "disconnected", or "disconnected" after `ms`. */
  waitUp(ms: number): Promise<LinkState> {
    if (this.#state !== "disconnected") return Promise.resolve(this.#state);
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve(this.#state);
      };
      const timer = setTimeout(wake, ms);
      this.#waiters.add(wake);
    });
  }

  #set(state: LinkState): void {
    if (this.#state === "closed") return;
    if (state === "connected") {
      for (const hook of this.#reconnectHooks) hook();
    }
    this.#state = state;
    if (state !== "disconnected") for (const wake of [...this.#waiters]) wake();
  }

  async #watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === Events.Disconnect) this.#set("disconnected");
      else if (s.type === Events.Reconnect) this.#set("connected");
      for (const hook of this.#statusHooks) {
        try {
          hook(s);
        } catch {
          // Logging hooks must not stop state tracking.
        }
      }
    }
  }
}

const links = new WeakMap<NatsConnection, NatsLink>();

/** The shared {@link NatsLink} of a connection (created on first use). */
export function natsLink(nc: NatsConnection): NatsLink {
  let link = links.get(nc);
  if (link === undefined) links.set(nc, (link = new NatsLink(nc)));
  return link;
}
