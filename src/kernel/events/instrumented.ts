import { eventsPublished, subjectLabel } from "../metrics.ts";
import type { EventStream } from "./types.ts";

const INSTRUMENTED = Symbol.for("switchyard.events.instrumented");

/**
 * Counts every durable event published through `events` (by `ctx.emit` and by outbox relays
 * alike) in `switchyard_events_published_total{subject,outcome}`; outcome `error` when the
 * transport did not store it. Consumption is counted where handlers run (the kernel's `on`).
 * Idempotent: an instrumented stream is returned as is.
 */
export function instrumentEvents(events: EventStream): EventStream {
  if ((events as Partial<Record<typeof INSTRUMENTED, boolean>>)[INSTRUMENTED]) return events;
  return {
    [INSTRUMENTED]: true,
    get kind() {
      return events.kind;
    },
    declare: (module, subjects) => events.declare(module, subjects),
    publish: (subject, data, opts) =>
      events.publish(subject, data, opts).then(
        () => void eventsPublished.inc({ subject: subjectLabel(subject), outcome: "ok" }),
        (err: unknown) => {
          eventsPublished.inc({ subject: subjectLabel(subject), outcome: "error" });
          throw err;
        },
      ),
    consume: (subject, handler, opts) => events.consume(subject, handler, opts),
    close: () => events.close(),
  } as EventStream;
}
