/**
 * A {@link Bus} decorator that adds, on top of any transport (memory or NATS):
 * - metrics: `switchyard_bus_request_duration_seconds{subject,outcome}` for requests sent and
 *   `switchyard_bus_handler_duration_seconds{subject,outcome}` for messages handled, labelled
 *   by subscription pattern / id-free subject, never by raw ids;
 * - tracing: a CLIENT span per request whose W3C `traceparent` is written into the message
 *   headers, and a SERVER (reply expected) or CONSUMER span per handled message, child of the
 *   context extracted from those headers: one trace across processes;
 * - the request id of a handled message (header `sy-request-id`) as the current request id,
 *   so the handler's log lines carry it;
 * - per-subject request timeouts (`BUS_TIMEOUTS`): the first matching pattern's timeout
 *   replaces the caller's (the timeout stage of the call policy, `policy/timeouts.ts`);
 * - waiting for a responder: a request nobody serves is sent again with a backoff until its
 *   deadline (`responder-wait.ts`), counted in `switchyard_bus_no_responder_waits_total`.
 * Decorating instead of editing both transports keeps them identical and contract-tested.
 */
import { context, propagation, SpanKind } from "@opentelemetry/api";
import { busHandlerDuration, busNoResponderWaits, busRequestDuration, secondsSince, subjectLabel } from "../metrics.ts";
import { REQUEST_ID_HEADER } from "../identity.ts";
import { runWithRequestId } from "../request-context.ts";
import { markError, startActiveChildSpan, startActiveSpanIn } from "../tracing.ts";
import { BusTimeoutError, NoRespondersError } from "./errors.ts";
import { ERROR_HEADER } from "./rpc.ts";
import { requestAwaitingResponder } from "./responder-wait.ts";
import { requestTimeout, type SubjectTimeout } from "../policy/timeouts.ts";
import type { Bus, Headers, Msg, MsgHandler, Payload, PublishOptions, RequestOptions, SubscribeOptions, Subscription } from "./types.ts";

export type { SubjectTimeout };

export interface InstrumentOptions {
  /** Checked in order; the first match wins. */
  timeouts?: readonly SubjectTimeout[];
}

const INSTRUMENTED = Symbol.for("switchyard.bus.instrumented");
const defaultInbox = (): string => `_INBOX.${crypto.randomUUID().replaceAll("-", "")}`;

/** Outcome label of a failed request. */
function failureOutcome(err: unknown): "timeout" | "no_responders" | "error" {
  if (err instanceof BusTimeoutError) return "timeout";
  if (err instanceof NoRespondersError) return "no_responders";
  return "error";
}

class InstrumentedBus implements Bus {
  readonly [INSTRUMENTED] = true;
  constructor(
    readonly inner: Bus,
    private readonly timeouts: readonly SubjectTimeout[],
  ) {}

  get transport(): string {
    return this.inner.transport;
  }

  get closed(): boolean {
    return this.inner.closed;
  }

  publish(subject: string, data?: Payload, opts?: PublishOptions): void {
    const headers = { ...opts?.headers };
    propagation.inject(context.active(), headers);
    this.inner.publish(subject, data, { ...opts, headers });
  }

  subscribe(pattern: string, handler: MsgHandler, opts?: SubscribeOptions): Subscription {
    const label = subjectLabel(pattern);
    const wrapped: MsgHandler = (msg: Msg) => {
      const start = performance.now();
      const parent = propagation.extract(context.active(), msg.headers);
      const requestId = msg.headers[REQUEST_ID_HEADER];
      let errorReply: string | undefined;
      // Watch the reply: a responder that answers with an error code (sy-error) handled the
      // message, but its outcome is an error.
      const observed: Msg = msg.reply
        ? {
            subject: msg.subject,
            // A getter: reading the bytes of an in-process JSON payload would encode it.
            get data() {
              return msg.data;
            },
            headers: msg.headers,
            reply: msg.reply,
            json: <T>() => msg.json<T>(),
            string: () => msg.string(),
            respond: (data?: Payload, o?: { headers?: Headers }) => {
              errorReply = o?.headers?.[ERROR_HEADER];
              return msg.respond(data, o);
            },
          }
        : msg;
      const run = () =>
        startActiveSpanIn(
          parent,
          `bus.handle ${label}`,
          () => ({
            kind: msg.reply ? SpanKind.SERVER : SpanKind.CONSUMER,
            attributes: { "messaging.system": this.inner.transport, "messaging.destination.name": msg.subject },
          }),
          async (span) => {
            let outcome = "ok";
            try {
              await handler(observed);
              if (errorReply) {
                outcome = "error";
                span.setAttribute("switchyard.error_code", errorReply);
              }
            } catch (err) {
              outcome = "error";
              markError(span, err);
              throw err;
            } finally {
              busHandlerDuration.observe({ subject: label, outcome }, secondsSince(start));
              span.end();
            }
          },
        );
      return requestId ? runWithRequestId(requestId, run) : run();
    };
    return this.inner.subscribe(pattern, wrapped, opts);
  }

  request(subject: string, data?: Payload, opts?: RequestOptions): Promise<Msg> {
    const label = subjectLabel(subject);
    const timeoutMs = requestTimeout(this.timeouts, subject, opts?.timeoutMs);
    const start = performance.now();
    return startActiveChildSpan(
      `bus.request ${label}`,
      () => ({ kind: SpanKind.CLIENT, attributes: { "messaging.system": this.inner.transport, "messaging.destination.name": subject } }),
      async (span) => {
        const headers: Headers = { ...opts?.headers };
        propagation.inject(context.active(), headers);
        try {
          const reply = await requestAwaitingResponder(
            this.inner,
            subject,
            data,
            { headers, ...(timeoutMs !== undefined ? { timeoutMs } : {}) },
            () => {
              busNoResponderWaits.inc({ subject: label });
              span.addEvent("no responder: waiting for one until the deadline");
            },
          );
          const code = reply.headers[ERROR_HEADER];
          if (code) span.setAttribute("switchyard.error_code", code);
          busRequestDuration.observe({ subject: label, outcome: code ? "error" : "ok" }, secondsSince(start));
          return reply;
        } catch (err) {
          busRequestDuration.observe({ subject: label, outcome: failureOutcome(err) }, secondsSince(start));
          markError(span, err);
          throw err;
        } finally {
          span.end();
        }
      },
    );
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }

  newInbox(): string {
    return this.inner.newInbox?.() ?? defaultInbox();
  }

  drain(): Promise<void> {
    return this.inner.drain();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * Wraps `bus` with metrics, tracing, request-id propagation and per-subject timeouts.
 * Idempotent: an already instrumented bus is returned as is.
 */
export function instrumentBus(bus: Bus, opts: InstrumentOptions = {}): Bus {
  if ((bus as Partial<Record<typeof INSTRUMENTED, boolean>>)[INSTRUMENTED]) return bus;
  return new InstrumentedBus(bus, opts.timeouts ?? []);
}

/** The transport under an instrumented bus (the bus itself when it is not instrumented). */
export function transportOf(bus: Bus): Bus {
  return bus instanceof InstrumentedBus ? bus.inner : bus;
}
