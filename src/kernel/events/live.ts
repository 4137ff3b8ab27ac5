import { Channel } from "../bus/channel.ts";
import type { Bus, Msg } from "../bus/types.ts";
import { EVENT_ID_HEADER } from "./types.ts";

export interface LiveEventsOptions<E> {
  /** Keeps only the events this returns true for (e.g. the caller's own orders). */
  filter?: (event: E) => boolean;
  /** Events buffered for a slow consumer before the iterator fails (default 1000). */
  maxBuffered?: number;
  /** Receives payloads that are not valid JSON (they are skipped). */
  onMalformed?: (msg: Msg, err: unknown) => void;
}

/** Event ids remembered per iterator to drop duplicates (a publisher retrying the same event). */
const SEEN_IDS = 256;

/**
 * A live view of an event subject, for GraphQL subscription resolvers: a plain (core) bus
 * subscription, not a durable consumer, so every subscriber on every instance sees every
 * event published from now on, and nothing is replayed or redelivered. The iterator's
 * `return()` (the client left) unsubscribes at once. Events repeated with the same event id
 * (`Nats-Msg-Id`, or the payload's `eventId`) are delivered once.
 *
 * The bus subscription is made before this returns, so an event published after the call is
 * never missed. The iterator throws `ChannelOverflowError` when its consumer falls more than
 * `maxBuffered` events behind.
 */
export function liveEvents<E>(bus: Bus, subject: string, opts: LiveEventsOptions<E> = {}): AsyncIterableIterator<E> {
  const seen = new Set<string>();
  const channel: Channel<E> = new Channel<E>({
    ...(opts.maxBuffered !== undefined ? { maxBuffered: opts.maxBuffered } : {}),
    onClose: () => sub.unsubscribe(),
  });
  const sub = bus.subscribe(subject, (msg) => {
    let event: E;
    try {
      event = msg.json<E>();
    } catch (err) {
      opts.onMalformed?.(msg, err);
      return;
    }
    const id = msg.headers[EVENT_ID_HEADER] ?? (event as { eventId?: unknown } | null)?.eventId;
    if (typeof id === "string") {
      if (seen.has(id)) return;
      seen.add(id);
      // Insertion order: the first key is the oldest.
      if (seen.size > SEEN_IDS) seen.delete(seen.values().next().value as string);
    }
    if (opts.filter && !opts.filter(event)) return;
    channel.push(event);
  });
  return channel;
}
