import { Channel } from "../bus/channel.ts";
import type { Bus, Msg } from "../bus/types.ts";
import type { EventBase, EventDefinition } from "../contract/define.ts";
import { parseEvent } from "../contract/validate.ts";
import { EVENT_ID_HEADER } from "./types.ts";

export interface LiveEventsOptions<E> {
  /** Keeps only the events this returns true for (e.g. the caller's own orders). */
  filter?: (event: E) => boolean;
  /** Events buffered for a slow consumer before the iterator fails (default 1000). */
  maxBuffered?: number;
  /**
   * Receives payloads that are not valid JSON or, for an event definition, do not match its
   * schema (they are skipped; the latter are also counted in `switchyard_bus_invalid_payloads_total`).
   */
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
export function liveEvents<E extends EventBase>(bus: Bus, event: EventDefinition<E>, opts?: LiveEventsOptions<E>): AsyncIterableIterator<E>;
/** The same on a raw subject, for code outside modules: `E` is the caller's claim, payloads are not checked. */
export function liveEvents<E>(bus: Bus, subject: string, opts?: LiveEventsOptions<E>): AsyncIterableIterator<E>;
export function liveEvents<E>(
  bus: Bus,
  source: string | EventDefinition<E & EventBase>,
  opts: LiveEventsOptions<E> = {},
): AsyncIterableIterator<E> {
  const subject = typeof source === "string" ? source : source.subject;
  const def = typeof source === "string" ? undefined : source;
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
    if (def) {
      // Each subscriber parses its own copy: the schema's output is the subscriber's to keep.
      const parsed = parseEvent(def, event);
      if (!parsed.ok) {
        opts.onMalformed?.(msg, new TypeError(`malformed ${subject} event: ${JSON.stringify(parsed.issues)}`));
        return;
      }
      event = parsed.event;
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
