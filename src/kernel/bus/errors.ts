/** Base class of every error the bus raises, so callers can `instanceof BusError`. */
export class BusError extends Error {
  /** Stable machine-readable code, e.g. `"BUS_TIMEOUT"`. */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A request got no reply within its timeout (ms). */
export class BusTimeoutError extends BusError {
  constructor(
    readonly subject: string,
    readonly timeoutMs: number,
  ) {
    super("BUS_TIMEOUT", `request to "${subject}" timed out after ${timeoutMs} ms`);
  }
}

/**
 * A request was sent to a subject nobody listens on (NATS reports this as status 503). From the
 * instrumented bus, only after waiting for a responder until the request's deadline (`waitedMs`).
 */
export class NoRespondersError extends BusError {
  constructor(
    readonly subject: string,
    /** How long the request waited for a responder, ms (undefined: it failed at once, a raw transport). */
    readonly waitedMs?: number,
  ) {
    super("NO_RESPONDERS", `no responders for "${subject}"${waitedMs === undefined ? "" : ` (waited ${waitedMs} ms)`}`);
  }
}

/** The bus was closed (or drained) before or while the operation ran. */
export class BusClosedError extends BusError {
  constructor() {
    super("BUS_CLOSED", "bus is closed");
  }
}

/** A subject or subscription pattern is not valid NATS syntax. */
export class InvalidSubjectError extends BusError {
  constructor(
    readonly subject: string,
    reason: string,
  ) {
    super("INVALID_SUBJECT", `invalid subject "${subject}": ${reason}`);
  }
}

/**
 * A durable event could not be stored (JetStream gave no publish ack, or the subject belongs to
 * no declared stream). The event may or may not have been stored when `reason` is `"timeout"`:
 * republishing with the same event id is safe, the stream deduplicates it (`Nats-Msg-Id`).
 */
export class EventPublishError extends BusError {
  constructor(
    readonly subject: string,
    /** `"no_stream"` (nothing stores this subject), `"timeout"` (no ack in time) or `"rejected"` (the stream refused it). */
    readonly reason: "no_stream" | "timeout" | "rejected",
    detail: string,
  ) {
    super("EVENT_PUBLISH_FAILED", `event on "${subject}" was not stored (${reason}): ${detail}`);
  }
}
