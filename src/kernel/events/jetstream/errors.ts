/**
 * JetStream failures as the event stream's errors
 * (https://docs.nats.io/reference/reference-protocols/nats_api_reference).
 */

import { ErrorCode, NatsError } from "nats";
import { BusClosedError, EventPublishError } from "../../bus/errors.ts";

/** The JetStream API error carried by a nats.js error (`api_error`), if any. */
export function apiErrorOf(err: unknown): { code: number; err_code?: number; description: string } | undefined {
  const api = (err as { api_error?: { code: number; err_code?: number; description: string } } | null)?.api_error;
  return api !== undefined && typeof api.description === "string" ? api : undefined;
}

/** True for the errors of a closed or draining connection (ours or nats.js's). */
export function isClosedError(err: unknown): boolean {
  return (
    err instanceof BusClosedError ||
    (err instanceof NatsError && (err.code === ErrorCode.ConnectionClosed || err.code === ErrorCode.ConnectionDraining))
  );
}

/** The message of an Error, or the value as text. */
export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Sets `cause` on `err` and returns it. */
export function withCause<E extends Error>(err: E, cause: unknown): E {
  (err as { cause?: unknown }).cause = cause;
  return err;
}

/**
 * Maps a `js.publish` failure: closed connection → BusClosedError; an API error →
 * EventPublishError `rejected` with its description; 503 (no stream stores the subject) →
 * `no_stream`; no ack in time → `timeout`; anything else → `rejected`. `cause` is the original.
 */
export function publishError(err: unknown, subject: string): Error {
  if (isClosedError(err)) return new BusClosedError();
  const api = apiErrorOf(err);
  if (api !== undefined) return withCause(new EventPublishError(subject, "rejected", api.description), err);
  if (err instanceof NatsError) {
    // 503: no stream listens on the subject (and no JetStream responder at all).
    if (err.code === ErrorCode.NoResponders) {
      return withCause(new EventPublishError(subject, "no_stream", "no stream stores this subject"), err);
    }
    if (err.code === ErrorCode.Timeout) return withCause(new EventPublishError(subject, "timeout", "no publish ack"), err);
  }
  return withCause(new EventPublishError(subject, "rejected", message(err)), err);
}
