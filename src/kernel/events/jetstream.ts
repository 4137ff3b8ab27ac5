/**
 * Durable events on NATS JetStream (https://docs.nats.io/nats-concepts/jetstream).
 *
 * - One stream per publishing module, `EVENTS_<MODULE>`, holding exactly the subjects it
 *   declares: file storage, limits retention, 2 min duplicate window, so republishing an event
 *   with the same id (`Nats-Msg-Id`) is stored once (jetstream/streams.ts).
 * - `publish` awaits the stream's publish ack: resolved means stored.
 * - One durable PULL consumer per consuming module and subject, `<durable>__<subject>`
 *   (`consumerName`), explicit ack, deliver policy `all`: a consumer created after events
 *   were stored still gets them, and one that was down resumes where it stopped
 *   (jetstream/consumer.ts).
 *
 * Why pull and not a push consumer with a deliver group: nats.js 2.29's consumer API
 * (`js.consumers.get().consume()`) only does pull (push needs the legacy, deprecated
 * `js.subscribe`); every instance of a module simply runs `consume()` on the same durable and the
 * server hands each event to one of them, with no deliver subject or queue name to keep in sync;
 * the client only asks for as many events as it can run (`maxInFlight`), so a slow instance does
 * not hoard events; and `consume()` re-pulls by itself after reconnects, watching heartbeats.
 * NATS recommends pull consumers for new work-queue style code
 * (https://docs.nats.io/using-nats/developer/develop_jetstream/consumers#pull-consumers).
 *
 * Outcome of a handler: resolve → `ack`; reject → `nak` with `retryDelayMs` delay, or `term` once
 * `maxDeliver` deliveries were made (logged). While a handler runs the client sends
 * "in progress" acks every `ackWaitMs / 2`, so only a dead process lets `ack_wait` expire.
 *
 * This file is the transport's entry; the pieces live in jetstream/.
 */

import type { NatsConnection } from "nats";
import type { EventStream } from "./types.ts";
import { JetStreamEvents, type JetStreamEventsOptions } from "./jetstream/events.ts";

export { consumerName } from "./shared.ts";
export { DEFAULT_ACK_WAIT_MS, DEFAULT_MAX_IN_FLIGHT, type JetStreamEventsOptions } from "./jetstream/events.ts";
export { DUPLICATE_WINDOW_MS, streamName } from "./jetstream/streams.ts";

/**
 * Creates JetStream events on an open NATS connection (normally `NatsBus.connection`). `close`
 * stops consumers but leaves the connection open (the bus owns it).
 * @throws RangeError when `replicas` is not an integer 1..5.
 */
export function createJetStreamEvents(nc: NatsConnection, opts: JetStreamEventsOptions = {}): EventStream {
  return new JetStreamEvents(nc, opts);
}
