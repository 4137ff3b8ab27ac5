import type { Headers } from "../bus/types.ts";

/**
 * Transactional outbox: a module writes the events it publishes into an `outbox` table of its
 * own database in the same transaction as the state change they describe; the kernel's
 * {@link OutboxRelay} publishes them through the `EventStream` afterwards and marks them sent.
 * A crash between commit and publish loses nothing (the row waits for the next relay pass)
 * and a crash between publish and mark-sent re-publishes the same event id, which JetStream
 * deduplicates (`Nats-Msg-Id`, 2 min window) and consumers deduplicate by `eventId`.
 */

/** One stored event, as the relay reads it. */
export interface OutboxRecord {
  /** Insertion order (the relay publishes in this order). */
  seq: number;
  /** The event's `eventId`: JetStream deduplication id and consumers' deduplication key. */
  eventId: string;
  subject: string;
  /** The event as JSON text. */
  payload: string;
  headers: Headers;
}

/** An event to store: its `eventId` field is the deduplication id. */
export interface OutboxEvent {
  eventId: string;
}

/** What the relay needs from a module's outbox ({@link Outbox}, on SQLite or PostgreSQL). */
export interface OutboxSource {
  /**
   * Hands up to `limit` unsent events, oldest first, to `publish` one at a time and marks each
   * one `publish` resolved for as sent (together, after the batch: a crash in between
   * re-publishes them with the same event ids). Stops at the first `publish` rejection (the
   * events before it are marked) and rethrows it. PostgreSQL claims the rows with
   * `FOR UPDATE SKIP LOCKED`, so relays of several instances never publish the same row at once.
   * @returns how many events were marked sent.
   */
  relayBatch(limit: number, publish: (record: OutboxRecord) => Promise<void>): Promise<number>;
  /** Deletes events sent more than `olderThanMs` ago. @returns rows deleted. */
  prune(olderThanMs: number): Promise<number>;
  /** Unsent events (for health/metrics and tests). */
  pending(): Promise<number>;
  /** Registers the relay's wake-up; called by {@link OutboxNotify.committed}. */
  setListener(listener: (subjects: readonly string[]) => Promise<void>): void;
}

/** The part of an outbox a store calls after its transaction committed. */
export interface OutboxNotify {
  /**
   * Tells the relay that a transaction carrying events on `subjects` committed, so it
   * publishes now instead of at the next poll. Call it after the commit, never inside the
   * transaction (the relay could not see the rows yet). The promise resolves once a relay pass
   * that started after this call finished (the events are published unless that pass failed);
   * most callers do not wait for it, those that promise "published before the response" do.
   */
  committed(subjects: readonly string[]): Promise<void>;
}

/** Parses the stored headers JSON; a malformed value yields no headers rather than a stuck row. */
export function parseHeaders(text: string | null): Headers {
  if (!text) return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== "object") return {};
    const out: Headers = {};
    for (const [k, val] of Object.entries(v as Record<string, unknown>)) if (typeof val === "string") out[k] = val;
    return out;
  } catch {
    return {};
  }
}
