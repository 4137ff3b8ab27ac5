/**
 * What both event transports (memory.ts, jetstream/) apply the same way: consumer naming,
 * consume settings with their defaults, the headers an event is published with, and the message
 * a handler receives. Held to one contract by tests/contract/events.contract.ts.
 */

import { decodeJson } from "../bus/codec.ts";
import type { Headers } from "../bus/types.ts";
import { validatePattern } from "../bus/subject.ts";
import { EVENT_ID_HEADER, type ConsumeOptions, type EventMsg, type PublishEventOptions } from "./types.ts";

/** `ConsumeOptions.maxDeliver` default. */
export const DEFAULT_MAX_DELIVER = 10;
/** `ConsumeOptions.retryDelayMs` default, ms. */
export const DEFAULT_RETRY_DELAY_MS = 1000;

/**
 * The per-subject durable name both transports use: `<durable>__<subject>` with `.` → `_`,
 * `*` → `STAR`, `>` → `GT` and any other character outside `[A-Za-z0-9_-]` → `_` (JetStream
 * consumer names may not contain `.`, `*`, `>`, whitespace or path separators:
 * https://docs.nats.io/running-a-nats-service/nats_admin/jetstream_admin/naming).
 * Example: `("catalog", "order.created")` → `catalog__order_created`.
 */
export function consumerName(durable: string, subject: string): string {
  const clean = (s: string): string =>
    s
      .replaceAll("*", "STAR")
      .replaceAll(">", "GT")
      .replace(/[^A-Za-z0-9_-]/g, "_");
  return `${clean(durable)}__${clean(subject)}`;
}

/** Resolved consume settings (defaults applied, ranges checked). */
export interface ConsumeSettings {
  durable: string;
  /** The per-subject durable, {@link consumerName}. */
  name: string;
  maxDeliver: number;
  /** ms */
  retryDelayMs: number;
}

/**
 * Validates `subject` and `opts` and applies defaults.
 * @throws InvalidSubjectError for a bad subject pattern; RangeError for an empty durable,
 *   a `maxDeliver` that is not an integer ≥ 1, or a negative / non-finite `retryDelayMs`.
 */
export function consumeSettings(subject: string, opts: ConsumeOptions): ConsumeSettings {
  validatePattern(subject);
  if (typeof opts.durable !== "string" || opts.durable.trim() === "") {
    throw new RangeError("ConsumeOptions.durable must be a non-empty name");
  }
  const maxDeliver = opts.maxDeliver ?? DEFAULT_MAX_DELIVER;
  if (!Number.isInteger(maxDeliver) || maxDeliver < 1) {
    throw new RangeError(`maxDeliver must be an integer >= 1, got ${maxDeliver}`);
  }
  const retryDelayMs = opts.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
  if (!(retryDelayMs >= 0) || !Number.isFinite(retryDelayMs)) {
    throw new RangeError(`retryDelayMs must be a finite number of ms >= 0, got ${retryDelayMs}`);
  }
  return { durable: opts.durable, name: consumerName(opts.durable, subject), maxDeliver, retryDelayMs };
}

/** @throws RangeError when the event id is missing or empty. */
export function checkEventId(opts: PublishEventOptions): void {
  if (typeof opts?.eventId !== "string" || opts.eventId === "") {
    throw new RangeError("PublishEventOptions.eventId must be a non-empty string");
  }
}

/** Headers to publish: the caller's, minus any spelling of the id header, plus the event id. */
export function eventHeaders(opts: PublishEventOptions): Headers {
  const out: Headers = {};
  const idKey = EVENT_ID_HEADER.toLowerCase();
  if (opts.headers !== undefined) {
    for (const key in opts.headers) {
      const value = opts.headers[key];
      if (value !== undefined && key.toLowerCase() !== idKey) out[key] = value;
    }
  }
  out[EVENT_ID_HEADER] = opts.eventId;
  return out;
}

/** The {@link EventMsg} handed to a consumer's handler, by either transport. */
export class DeliveredEvent implements EventMsg {
  constructor(
    readonly subject: string,
    readonly data: Uint8Array,
    readonly headers: Headers,
    readonly eventId: string,
    readonly deliveryCount: number,
  ) {}

  json<T>(): T {
    return decodeJson<T>(this.data);
  }
}
