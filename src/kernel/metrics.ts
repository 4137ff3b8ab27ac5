/**
 * Prometheus metrics of this process (prom-client), served as text at `GET /metrics` by the
 * gateway and by the ops server of module-only processes.
 *
 * One {@link Registry} per process, {@link metricsRegistry}, and not prom-client's global
 * default registry: a library that also registers on the default registry cannot clash with
 * these names. Several kernels started in one process (tests) share it and add up, exactly as
 * the modules of one process do in the monolith; tests therefore assert on increments.
 *
 * Label values are bounded: subjects are subscription patterns or id-free subjects
 * ({@link subjectLabel}), operation names go through {@link BoundedLabel} (at most 200
 * distinct values, then `"other"`), routes are hono route patterns, never raw paths.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { Lru } from "./subgraph/lru.ts";

/** The registry every metric of this process is registered on. */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry });

/** Latency buckets in seconds: 1 ms … 10 s (bus and HTTP latencies span that range). */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** SQL statements are mostly sub-millisecond on SQLite. */
const DB_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** HTTP requests by hono route pattern, method and status; seconds. */
export const httpRequestDuration = new Histogram({
  name: "switchyard_http_request_duration_seconds",
  help: "HTTP requests served, by route pattern, method and status code (seconds).",
  labelNames: ["route", "method", "status"] as const,
  buckets: LATENCY_BUCKETS,
  registers: [metricsRegistry],
});

/** GraphQL operations executed by the gateway; seconds. */
export const graphqlOperationDuration = new Histogram({
  name: "switchyard_graphql_operation_duration_seconds",
  help: "GraphQL operations executed by the gateway, by operation name and type (seconds).",
  labelNames: ["operation", "type"] as const,
  buckets: LATENCY_BUCKETS,
  registers: [metricsRegistry],
});

/** GraphQL errors in gateway responses (one per error entry). */
export const graphqlOperationErrors = new Counter({
  name: "switchyard_graphql_operation_errors_total",
  help: "Errors in GraphQL responses, by operation name, type and error code.",
  labelNames: ["operation", "type", "code"] as const,
  registers: [metricsRegistry],
});

/** Subgraph fetches of the gateway; outcome `ok` | `error` | `unavailable` | `circuit_open`; seconds. */
export const subgraphFetchDuration = new Histogram({
  name: "switchyard_subgraph_fetch_duration_seconds",
  help: "Gateway-to-subgraph fetches over the bus, by subgraph and outcome (seconds).",
  labelNames: ["subgraph", "outcome"] as const,
  buckets: LATENCY_BUCKETS,
  registers: [metricsRegistry],
});

/** A running count, incremented on the hot path and read by a metric when it is collected. */
export interface Tally {
  /** The count so far (only ever incremented). */
  n: number;
}

// Deduplicated fetches by subgraph: counted per fetch with one increment (most fetches under load
// are deduplicated; prom-client's `inc` validates and hashes the labels on every call) and copied
// into the counter when it is collected, as the response cache's totals are.
const deduplicatedTallies = new Map<string, Tally>();

/**
 * The tally of the subgraph's deduplicated fetches (one per subgraph, shared by every executor of
 * the process): `tally.n++` counts one in {@link subgraphFetchDeduplicated}.
 */
export function deduplicatedFetchTally(subgraph: string): Tally {
  let tally = deduplicatedTallies.get(subgraph);
  if (!tally) deduplicatedTallies.set(subgraph, (tally = { n: 0 }));
  return tally;
}

/**
 * Subgraph fetches answered by another caller's identical fetch in flight (gateway/dedup.ts,
 * SUBGRAPH_DEDUP); counted through {@link deduplicatedFetchTally}, set from the tallies when read.
 */
export const subgraphFetchDeduplicated = new Counter({
  name: "switchyard_subgraph_fetch_deduplicated_total",
  help: "Gateway-to-subgraph query fetches that sent nothing: answered by an identical fetch already in flight (SUBGRAPH_DEDUP), by subgraph.",
  labelNames: ["subgraph"] as const,
  registers: [metricsRegistry],
  collect() {
    this.reset();
    for (const [subgraph, tally] of deduplicatedTallies) this.inc({ subgraph }, tally.n);
  },
});

/** Bus requests sent by this process; outcome `ok` | `timeout` | `no_responders` | `error`; seconds. */
export const busRequestDuration = new Histogram({
  name: "switchyard_bus_request_duration_seconds",
  help: "Bus requests sent, by subject pattern and outcome (ok, timeout, no_responders, error) (seconds).",
  labelNames: ["subject", "outcome"] as const,
  buckets: LATENCY_BUCKETS,
  registers: [metricsRegistry],
});

/**
 * Bus requests that found no responder on their first attempt and waited for one (sent again with
 * a backoff until their deadline: a module paused for a hand-over, an instance restarting), by
 * subject pattern. Their final outcome is in `switchyard_bus_request_duration_seconds`.
 */
export const busNoResponderWaits = new Counter({
  name: "switchyard_bus_no_responder_waits_total",
  help: "Bus requests that found no responder and waited for one until their deadline, by subject pattern.",
  labelNames: ["subject"] as const,
  registers: [metricsRegistry],
});

/** Bus messages handled by this process's subscriptions; outcome `ok` | `error`; seconds. */
export const busHandlerDuration = new Histogram({
  name: "switchyard_bus_handler_duration_seconds",
  help: "Bus messages handled, by subscription pattern and outcome (ok, error) (seconds).",
  labelNames: ["subject", "outcome"] as const,
  buckets: LATENCY_BUCKETS,
  registers: [metricsRegistry],
});

/** Durable events published by this process. */
export const eventsPublished = new Counter({
  name: "switchyard_events_published_total",
  help: "Durable events published, by subject and outcome (ok, error).",
  labelNames: ["subject", "outcome"] as const,
  registers: [metricsRegistry],
});

/** Durable events handled by this process's consumers; outcome `ok` | `error`. */
export const eventsConsumed = new Counter({
  name: "switchyard_events_consumed_total",
  help: "Durable events handled, by subject, consumer (module) and outcome (ok, error).",
  labelNames: ["subject", "consumer", "outcome"] as const,
  registers: [metricsRegistry],
});

/** Deliveries with `deliveryCount > 1`. */
export const eventsRedelivered = new Counter({
  name: "switchyard_events_redelivered_total",
  help: "Durable events delivered again after a failure or crash, by subject and consumer.",
  labelNames: ["subject", "consumer"] as const,
  registers: [metricsRegistry],
});

/**
 * Bus payloads refused by their contract's schema (`contract/validate.ts`), by subject and kind:
 * `request` (answered `BAD_REQUEST`, the handler never ran), `reply` (the caller got
 * `BAD_REPLY`), `event` (acknowledged without reaching the handler). Anything above zero is
 * a caller or publisher out of step with the contract (a version skew or a bug).
 */
export const busInvalidPayloads = new Counter({
  name: "switchyard_bus_invalid_payloads_total",
  help: "Bus payloads refused by their contract schema, by subject and kind (request, reply, event).",
  labelNames: ["subject", "kind"] as const,
  registers: [metricsRegistry],
});

/**
 * Subgraph requests refused because their `sy-identity` was not validly signed (`../bus-identity.ts`),
 * by module and reason (malformed, bad-signature, expired, request-id-mismatch). Anything above
 * zero means a client forging identities on the bus, or processes with different BUS_SIGNING_KEYs.
 */
export const busIdentityRefused = new Counter({
  name: "switchyard_bus_identity_refused_total",
  help: "Subgraph requests refused for an unsigned, forged, expired or replayed caller identity, by module and reason.",
  labelNames: ["module", "reason"] as const,
  registers: [metricsRegistry],
});

/** SQL statements by database (module) and statement kind; seconds. */
export const dbQueryDuration = new Histogram({
  name: "switchyard_db_query_duration_seconds",
  help: "SQL statements, by module database, driver and statement kind (select, insert, update, delete, other) (seconds).",
  labelNames: ["module", "driver", "statement"] as const,
  buckets: DB_BUCKETS,
  registers: [metricsRegistry],
});

/**
 * Saga outcomes, for the saga runner: `sagaOutcomes.inc({ saga: "checkout", outcome: "completed" })`.
 * Outcomes are a fixed vocabulary chosen by the saga (e.g. completed, compensated, failed, resumed).
 */
export const sagaOutcomes = new Counter({
  name: "switchyard_saga_outcomes_total",
  help: "Sagas finished, by saga name and outcome.",
  labelNames: ["saga", "outcome"] as const,
  registers: [metricsRegistry],
});

/** Numeric value of a circuit breaker state in {@link circuitBreakerState}. */
export const BREAKER_STATE_VALUE = { closed: 0, half_open: 1, open: 2, isolated: 3 } as const;

/** Circuit breaker state per target (`subgraph:<name>`): 0 closed, 1 half-open, 2 open, 3 isolated. */
export const circuitBreakerState = new Gauge({
  name: "switchyard_circuit_breaker_state",
  help: "Circuit breaker state per target: 0 closed, 1 half-open, 2 open, 3 isolated.",
  labelNames: ["target"] as const,
  registers: [metricsRegistry],
});

/** Prometheus text exposition of every metric of this process (what `GET /metrics` answers). */
export async function metricsText(): Promise<{ body: string; contentType: string }> {
  return { body: await metricsRegistry.metrics(), contentType: metricsRegistry.contentType };
}

/**
 * Keeps a label's set of values bounded: the first `max` distinct values pass through, any
 * later new value becomes `overflow`. For client-chosen strings such as operation names.
 */
export class BoundedLabel {
  readonly #seen = new Set<string>();
  constructor(
    private readonly max = 200,
    private readonly overflow = "other",
  ) {}

  /** `value` when already seen or while fewer than `max` values were seen, else the overflow value. */
  get(value: string): string {
    if (this.#seen.has(value)) return value;
    if (this.#seen.size >= this.max) return this.overflow;
    this.#seen.add(value);
    return value;
  }
}

// A token that carries an id rather than a name: long, or mixing letters and digits (KSUIDs,
// UUIDs, numbers). Subject names in this code base are short lowercase words.
const ID_TOKEN = /^\d+$|^(?=.*\d)[\w-]{6,}$|^[\w-]{24,}$/;

/**
 * The bounded label of a concrete subject: reply inboxes collapse to `_INBOX.>`, tokens that
 * look like ids become `*` (`order.2Xy…Q.paid` → `order.*.paid`); names stay as they are.
 */
export function subjectLabel(subject: string): string {
  if (subject.startsWith("_INBOX.")) return "_INBOX.>";
  // Every bus request and handler asks for the label of its subject: memoised, since the
  // regex tests per token were ~0.5% of a createOrder's CPU.
  const known = subjectLabels.get(subject);
  if (known !== undefined) return known;
  const label = labelOf(subject);
  subjectLabels.set(subject, label);
  return label;
}

/**
 * Memo of {@link subjectLabel} (subject → label), an LRU of 1,000 subjects: subjects carrying
 * ids are unbounded, and must not crowd out the few hot ones for good.
 */
const subjectLabels = new Lru<string, string>(1000);

function labelOf(subject: string): string {
  if (!ID_TOKEN.test(subject) && !subject.includes(".")) return subject;
  const tokens = subject.split(".");
  let changed = false;
  for (let i = 0; i < tokens.length; i++) {
    if (ID_TOKEN.test(tokens[i] as string)) {
      tokens[i] = "*";
      changed = true;
    }
  }
  return changed ? tokens.join(".") : subject;
}

/** Seconds elapsed since `start` (a `performance.now()` value). */
export function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}
