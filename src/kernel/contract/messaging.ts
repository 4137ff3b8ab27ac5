import { requestJson, serveJson } from "../bus/rpc.ts";
import { encodeJson } from "../bus/codec.ts";
import type { Bus, Headers, Subscription } from "../bus/types.ts";
import type { EventStream } from "../events/types.ts";
import { REQUEST_ID_HEADER } from "../identity.ts";
import type { Logger } from "../logger.ts";
import { eventsConsumed, eventsRedelivered } from "../metrics.ts";
import type { CallPolicy } from "../policy/index.ts";
import type { HandlerMeta, ModuleContext, ModuleDefinition } from "../module.ts";
import { runWithRequestId } from "../request-context.ts";
import { SpanKind, extractTraceContext, injectTraceHeaders, withSpan } from "../tracing.ts";
import { parseEvent, parseReply, parseRequest } from "./validate.ts";

/** What {@link ModuleMessaging} needs from the kernel for one module. */
export interface ModuleMessagingOptions {
  def: ModuleDefinition;
  /** The kernel's (instrumented) bus. */
  bus: Bus;
  events: EventStream;
  /** The module's logger. */
  logger: Logger;
  /** Counts a request handled on `subject` (the kernel's `handled` map). */
  onHandled(subject: string): void;
  /** The call policy of `call` for `subject` (the kernel's, one per subject: breaker `subject:<subject>`). */
  callPolicy(subject: string): CallPolicy;
}

/** The messaging methods of a {@link ModuleContext}. */
export type Messaging = Pick<ModuleContext, "serve" | "on" | "emit" | "call">;

/**
 * A module's `serve`/`on`/`emit`/`call`, bound to its definition: each takes a contract
 * definition, checks it against what the module declares (`subjects`, `publishes`,
 * `consumes`), and validates payloads at the bus boundary (`./validate.ts`). Tracks the
 * subscriptions it makes, for the kernel to drain on stop, and what was served and consumed,
 * for {@link ModuleMessaging.checkDeclared} at the end of the module's start.
 */
export class ModuleMessaging implements Messaging {
  /** Request/reply subscriptions made by `serve`. */
  readonly subscriptions: Subscription[] = [];
  /** Durable consumers being created by `on` (the kernel awaits them after the module's start). */
  readonly pendingConsumers: Promise<Subscription>[] = [];
  readonly #served = new Set<string>();
  readonly #consumed = new Set<string>();
  readonly #opts: ModuleMessagingOptions;

  constructor(opts: ModuleMessagingOptions) {
    this.#opts = opts;
  }

  #metaFor(subject: string, headers: Headers, deliveryCount?: number): HandlerMeta {
    return {
      subject,
      headers,
      logger: this.#opts.logger.child({ request_id: headers[REQUEST_ID_HEADER] }),
      ...(deliveryCount !== undefined ? { deliveryCount } : {}),
    };
  }

  /** Throws unless `subject` is in the module's `list` (what it declared in its definition). */
  #requireDeclared(what: string, subject: string, list: readonly string[], field: string): void {
    const { name } = this.#opts.def;
    if (!list.includes(subject))
      throw new Error(
        `module ${name} ${what} ${subject}, which its definition does not declare in ${field} (declared: ${list.join(", ") || "none"})`,
      );
  }

  readonly serve: Messaging["serve"] = (command, handler) => {
    const { def, bus, logger } = this.#opts;
    this.#requireDeclared("serves", command.subject, def.subjects, "its contract's commands");
    if (this.#served.has(command.subject)) throw new Error(`module ${def.name} serves ${command.subject} twice`);
    this.#served.add(command.subject);
    this.subscriptions.push(
      serveJson(
        bus,
        command.subject,
        (body, m) => {
          this.#opts.onHandled(command.subject);
          // Before the handler: a malformed body is answered BAD_REQUEST and never reaches it.
          return handler(parseRequest(command, body), this.#metaFor(m.subject, m.headers));
        },
        {
          queue: def.name,
          onUnexpected: (err, m) => logger.error({ err, subject: m.subject, request_id: m.headers[REQUEST_ID_HEADER] }, "handler failed"),
        },
      ),
    );
  };

  readonly on: Messaging["on"] = (event, handler) => {
    const { def, events } = this.#opts;
    const subject = event.subject;
    this.#requireDeclared("consumes", subject, def.consumes, "consumes");
    if (this.#consumed.has(subject)) throw new Error(`module ${def.name} consumes ${subject} twice`);
    this.#consumed.add(subject);
    const labels = { subject, consumer: def.name };
    // Durable consumer shared by every instance of this module; a handler that throws
    // gets the event again later (at-least-once), so handlers deduplicate by eventId.
    this.pendingConsumers.push(
      events.consume(
        subject,
        async (msg) => {
          const meta = this.#metaFor(msg.subject, msg.headers, msg.deliveryCount);
          if (msg.deliveryCount > 1) eventsRedelivered.inc(labels);
          const parsed = parseEvent(event, msg.json());
          if (!parsed.ok) {
            // Acknowledged (by returning): every redelivery would be refused the same way.
            meta.logger.warn({ subject, eventId: msg.eventId, issues: parsed.issues }, "malformed event acknowledged without handling");
            return;
          }
          const handle = () =>
            withSpan(
              `event.handle ${subject}`,
              {
                kind: SpanKind.CONSUMER,
                parent: extractTraceContext(msg.headers),
                attributes: { "messaging.message.id": msg.eventId, "switchyard.delivery_count": msg.deliveryCount },
              },
              async () => {
                try {
                  await handler(parsed.event, meta);
                  eventsConsumed.inc({ ...labels, outcome: "ok" });
                } catch (err) {
                  eventsConsumed.inc({ ...labels, outcome: "error" });
                  meta.logger.error(
                    { err, subject: msg.subject, deliveryCount: msg.deliveryCount },
                    "event handler failed; will be redelivered",
                  );
                  throw err;
                }
              },
            );
          const requestId = msg.headers[REQUEST_ID_HEADER];
          await (requestId ? runWithRequestId(requestId, handle) : handle());
        },
        { durable: def.name },
      ),
    );
  };

  readonly emit: Messaging["emit"] = (event, payload, headers) => {
    const { def, events } = this.#opts;
    try {
      this.#requireDeclared("emits", event.subject, def.publishes, "its contract's events");
    } catch (err) {
      return Promise.reject(err);
    }
    // The trace context travels with the event, so its consumers join the publisher's trace.
    const withTrace = injectTraceHeaders({ ...headers });
    return events.publish(event.subject, encodeJson(payload), { eventId: payload.eventId, headers: withTrace });
  };

  readonly call: Messaging["call"] = (command, body, opts) => {
    const { bus } = this.#opts;
    const subject = command.subject;
    const headers = opts?.headers;
    // The call policy (policy/call-policy.ts): the subject's breaker fails fast while the
    // target is unreachable; only calls the caller marks idempotent are retried; an error
    // reply (AppError) proves the target is up.
    return (
      this.#opts
        .callPolicy(subject)
        .execute(
          ({ timeoutMs }) =>
            requestJson<unknown>(bus, subject, body, {
              ...(headers ? { headers } : {}),
              ...(timeoutMs !== undefined ? { timeoutMs } : {}),
            }),
          { ...(opts?.idempotent ? { idempotent: true } : {}), ...(opts?.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) },
        )
        // Parsed once, after any retry: a malformed reply is the responder's bug, not a transport failure.
        .then((reply) => parseReply(command, reply))
    );
  };

  /**
   * Ends what `serve` and `on` started (for a module whose start failed: nothing else will
   * drain them). Never rejects.
   */
  async close(): Promise<void> {
    const consumers = this.pendingConsumers.map((p) => p.then((s) => s.unsubscribe()).catch(() => undefined));
    for (const s of this.subscriptions) s.unsubscribe();
    await Promise.all(consumers);
  }

  /**
   * Checks, at the end of the module's start, that it serves every command and consumes every
   * event it declares (serving or consuming an undeclared one already threw).
   * @throws Error naming what is declared but missing.
   */
  checkDeclared(): void {
    const { def } = this.#opts;
    const unserved = def.subjects.filter((s) => !this.#served.has(s));
    const unconsumed = def.consumes.filter((s) => !this.#consumed.has(s));
    const problems = [
      ...(unserved.length > 0 ? [`declares commands it does not serve: ${unserved.join(", ")}`] : []),
      ...(unconsumed.length > 0 ? [`declares events it does not consume: ${unconsumed.join(", ")}`] : []),
    ];
    if (problems.length > 0) throw new Error(`module ${def.name} ${problems.join("; ")}`);
  }
}
