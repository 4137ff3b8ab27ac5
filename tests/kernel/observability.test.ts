/**
 * Observability in one process (monolith shape: every module + the gateway in one kernel on
 * the memory bus): the span chain of a createOrder across the bus, metrics after it, and
 * trace/request ids on log lines.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Writable } from "node:stream";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { Kernel } from "../../src/kernel/kernel.ts";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { createMemoryRegistry } from "../../src/kernel/registry/memory.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import { activeTraceId, initTracing, tracer, type TracingHandle } from "../../src/kernel/tracing.ts";
import { currentRequestId } from "../../src/kernel/request-context.ts";
import { metricsRegistry } from "../../src/kernel/metrics.ts";
import { MODULES } from "../../src/module-list.ts";
import { createGatewayPart } from "../../src/gateway/index.ts";
import { TEST_JWT_SECRET, testConfig } from "../helpers/modules.ts";
import { adminGet, adminJson } from "../helpers/admin.ts";
import { rmSync } from "node:fs";
import { z } from "zod";
import { defineCommand, defineContract, defineEvent } from "../../src/kernel/contract/define.ts";
import { defineModule } from "../../src/kernel/contract/module.ts";
import { eventually } from "../helpers/eventually.ts";

const exporter = new InMemorySpanExporter();
let tracing: TracingHandle;
let kernel: Kernel;
let baseUrl: string;
let opsUrl: string;
let dataDir: string;
const lines: Record<string, unknown>[] = [];

async function gql<T>(
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
  requestId?: string,
): Promise<{ data?: T; errors?: { message: string; extensions?: Record<string, unknown> }[] }> {
  const res = await fetch(`${baseUrl}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(requestId ? { "x-request-id": requestId } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as never;
}

/** Value of one sample line (`name{labels} value`) of a Prometheus text, 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    if (want.every((w) => line.includes(w))) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return 0;
}

beforeAll(async () => {
  tracing = initTracing({ serviceName: "switchyard-test", exporter });
  const config = testConfig({ seed: true, logLevel: "debug", port: 0 });
  dataDir = config.dataDir;
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const logger = createLogger({ level: "debug", destination });
  kernel = new Kernel({ bus: createMemoryBus(), registry: createMemoryRegistry(), config, logger });
  for (const register of Object.values(MODULES)) register(kernel);
  kernel.addPart(createGatewayPart({ expectedSubgraphs: kernel.moduleNames, onListening: (l) => void ({ url: baseUrl, opsUrl } = l) }));
  await kernel.start();
});

afterAll(async () => {
  await kernel?.stop();
  await tracing?.shutdown();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("observability in one process", () => {
  let traceId: string;
  let spans: ReadableSpan[];
  const requestId = "obs-test-create-order-1";
  let metricsBefore: string;
  let token: string;
  let productId: string;

  beforeAll(async () => {
    metricsBefore = await metricsRegistry.metrics();
    const reg = await gql<{ register: { token: string } }>(`mutation($input: RegisterInput!) { register(input: $input) { token } }`, {
      input: { name: "Trace Tester", email: `trace-${Date.now()}@example.com`, password: "correct horse battery" },
    });
    token = reg.data?.register.token as string;
    expect(token).toBeTruthy();
    const products = await gql<{ products: { edges: { node: { id: string; stock: number } }[] } }>(
      `{ products(first: 50) { edges { node { id stock } } } }`,
    );
    const p = products.data?.products.edges.map((e) => e.node).find((n) => n.stock > 2);
    expect(p).toBeDefined();
    productId = p?.id as string;
    exporter.reset();
    const created = await gql<{ createOrder: { id: string } }>(
      `mutation CreateOrder($input: CreateOrderInput!) { createOrder(input: $input) { id } }`,
      { input: { items: [{ productId: p?.id, quantity: 1 }] } },
      token,
      requestId,
    );
    if (created.errors)
      throw new Error(
        `createOrder failed: ${JSON.stringify(created.errors)}; error logs: ${JSON.stringify(lines.filter((l) => Number(l["level"]) >= 50))}`,
      );
    spans = exporter.getFinishedSpans();
    const http = spans.find((s) => s.name === "HTTP POST /graphql");
    expect(http).toBeDefined();
    traceId = http?.spanContext().traceId as string;
  });

  const byName = (name: string): ReadableSpan => {
    const s = spans.find((x) => x.name === name);
    if (!s) throw new Error(`no span ${name}; have: ${spans.map((x) => x.name).join(", ")}`);
    return s;
  };
  const parentOf = (s: ReadableSpan): ReadableSpan | undefined => spans.find((x) => x.spanContext().spanId === s.parentSpanContext?.spanId);

  test("HTTP → GraphQL operation → subgraph fetch → bus request → module handler → SQL, one trace", () => {
    const handler = byName("bus.handle graphql.order");
    const busRequest = parentOf(handler);
    expect(busRequest?.name).toBe("bus.request graphql.order");
    const fetch = parentOf(busRequest as ReadableSpan);
    expect(fetch?.name).toBe("subgraph order");
    const op = parentOf(fetch as ReadableSpan);
    expect(op?.name).toBe("graphql.mutation CreateOrder");
    const http = parentOf(op as ReadableSpan);
    expect(http?.name).toBe("HTTP POST /graphql");
    expect(http?.parentSpanContext).toBeUndefined();
    for (const s of [handler, busRequest, fetch, op]) expect(s?.spanContext().traceId).toBe(traceId);
  });

  test("the order module's call to the catalog joins the trace, down to its SQL statements", () => {
    const reserve = byName("bus.handle catalog.stock.reserve");
    expect(reserve.spanContext().traceId).toBe(traceId);
    // Its ancestors lead back to the order module's subgraph handler.
    let s: ReadableSpan | undefined = reserve;
    const chain: string[] = [];
    while (s) {
      chain.push(s.name);
      s = parentOf(s);
    }
    expect(chain).toContain("bus.handle graphql.order");
    const sql = spans.filter((x) => x.name.startsWith("db ") && x.parentSpanContext?.spanId === reserve.spanContext().spanId);
    expect(sql.length).toBeGreaterThan(0);
    expect(sql.some((x) => String(x.attributes["db.query.text"]).length > 0)).toBe(true);
  });

  test("log lines carry trace_id and request_id; one access-log line per request", () => {
    const access = lines.filter((l) => l["msg"] === "request" && l["request_id"] === requestId);
    expect(access.length).toBe(1);
    expect(access[0]).toMatchObject({ method: "POST", path: "/graphql", status: 200, trace_id: traceId });
    expect(typeof access[0]?.["duration_ms"]).toBe("number");
    // The catalog handler's own line (debug "stock reserved") carries both ids.
    const reserved = lines.find((l) => l["msg"] === "stock reserved" && l["request_id"] === requestId);
    expect(reserved?.["trace_id"]).toBe(traceId);
  });

  test("metrics count the flow with bounded labels", async () => {
    const after = await metricsRegistry.metrics();
    const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(metricsBefore, name, labels);
    expect(
      delta("switchyard_http_request_duration_seconds_count", { route: "/graphql", method: "POST", status: "200" }),
    ).toBeGreaterThanOrEqual(3);
    expect(delta("switchyard_graphql_operation_duration_seconds_count", { operation: "CreateOrder", type: "mutation" })).toBe(1);
    expect(delta("switchyard_subgraph_fetch_duration_seconds_count", { subgraph: "order", outcome: "ok" })).toBeGreaterThanOrEqual(1);
    expect(delta("switchyard_bus_request_duration_seconds_count", { subject: "catalog.stock.reserve", outcome: "ok" })).toBe(1);
    expect(delta("switchyard_bus_handler_duration_seconds_count", { subject: "catalog.stock.reserve", outcome: "ok" })).toBe(1);
    expect(
      delta("switchyard_db_query_duration_seconds_count", { module: "order", driver: "sqlite", statement: "insert" }),
    ).toBeGreaterThanOrEqual(1);
    expect(after).toContain("process_cpu_seconds_total");
    // No raw ids in any label value: every subject label is a pattern or a fixed name.
    for (const line of after.split("\n")) {
      const m = /subject="([^"]*)"/.exec(line);
      if (m) expect(m[1]).not.toMatch(/[0-9A-Za-z]{20,}/);
    }
  });

  test("response cache hits and misses are exported", async () => {
    const q = `query CachedCategories { categories { id name } }`;
    const before = await metricsRegistry.metrics();
    await gql(q);
    await gql(q);
    const after = await metricsRegistry.metrics();
    const d = (result: string) =>
      sample(after, "switchyard_response_cache_total", { result }) - sample(before, "switchyard_response_cache_total", { result });
    expect(d("miss") + d("hit")).toBe(2);
    expect(d("hit")).toBeGreaterThanOrEqual(1);
  });

  test("GET /metrics serves Prometheus text; GET /admin/health shows bus, registry and breakers (operations listener)", async () => {
    const res = await fetch(`${opsUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(text).toContain("# TYPE switchyard_bus_request_duration_seconds histogram");
    expect(text).toContain('switchyard_circuit_breaker_state{target="subgraph:order"} 0');
    const health = await adminJson<Record<string, unknown>>(
      opsUrl,
      { jwtSecret: TEST_JWT_SECRET, graphqlUrl: `${baseUrl}/graphql` },
      "/admin/health",
    );
    expect(health).toMatchObject({
      status: "ok",
      role: "gateway",
      bus: { transport: "memory", state: "connected" },
      registry: { kind: "memory", state: "connected" },
    });
    expect((health["breakers"] as Record<string, string>)["subgraph:order"]).toBe("closed");
    expect((health["supergraph"] as { version: unknown }).version).toBeTruthy();
    // The registry is per process, shared with other test files: compare counts before and after.
    const healthCount = (t: string) =>
      sample(t, "switchyard_http_request_duration_seconds_count", { route: "/admin/health", method: "GET", status: "200" });
    const unmatched = (t: string) =>
      sample(t, "switchyard_http_request_duration_seconds_count", { route: "unmatched", method: "GET", status: "404" });
    const before = await metricsRegistry.metrics();
    await adminGet(opsUrl, { jwtSecret: TEST_JWT_SECRET, graphqlUrl: `${baseUrl}/graphql` }, "/admin/health");
    await fetch(`${baseUrl}/no/such/path/12345`);
    const after = await metricsRegistry.metrics();
    expect(healthCount(after) - healthCount(before)).toBe(1);
    expect(unmatched(after) - unmatched(before)).toBe(1);
  });
  test("an unsampled trace (traceparent flags 00) records no span; its trace id still reaches the modules' log lines", async () => {
    // The per-request path starts no child span under an unsampled trace (tracing.ts
    // startActiveChildSpan): the work must still run in the caller's trace context.
    const unsampled = "4bf92f3577b34da6a3ce929d0e0e4736";
    const id = "obs-test-unsampled-1";
    exporter.reset();
    const res = await fetch(`${baseUrl}/graphql`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${token}`,
        "x-request-id": id,
        traceparent: `00-${unsampled}-00f067aa0ba902b7-00`,
      },
      body: JSON.stringify({
        query: `mutation CreateOrder($input: CreateOrderInput!) { createOrder(input: $input) { id } }`,
        variables: { input: { items: [{ productId, quantity: 1 }] } },
      }),
    });
    const body = (await res.json()) as { data?: { createOrder?: { id: string } }; errors?: unknown[] };
    expect(body.errors).toBeUndefined();
    expect(body.data?.createOrder?.id).toBeTruthy();
    expect(exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === unsampled)).toEqual([]);
    const access = lines.find((l) => l["msg"] === "request" && l["request_id"] === id);
    expect(access?.["trace_id"]).toBe(unsampled);
    const reserved = lines.find((l) => l["msg"] === "stock reserved" && l["request_id"] === id);
    expect(reserved?.["trace_id"]).toBe(unsampled);
  });
});

describe("events and module calls in one process", () => {
  const SDL = (field: string) =>
    `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])\ntype Query { ${field}: String }`;
  let k: Kernel;
  let handled: { requestId: string | undefined; trace: string | undefined }[] = [];
  let failOnce = true;
  const events = new InMemorySpanExporter();

  beforeAll(async () => {
    initTracing({ serviceName: "switchyard-test", exporter: events });
    const config = testConfig();
    k = new Kernel({ bus: createMemoryBus(), registry: createMemoryRegistry(), config, logger: createLogger({ level: "silent" }) });
    const ping = defineCommand("pinger.ping", { request: z.object({ n: z.number() }), reply: z.object({ ok: z.literal(true) }) });
    const pinged = defineEvent("pinger.pinged", z.object({ eventId: z.string(), n: z.number() }));
    k.addModule(
      defineModule({
        name: "pinger",
        version: "1.0.0",
        dependsOn: [],
        typeDefs: SDL("ping"),
        contract: defineContract({ commands: { ping }, events: { pinged } }),
        async start(ctx) {
          ctx.serve(ping, async (req, meta) => {
            await ctx.emit(pinged, { eventId: `ping-${req.n}`, n: req.n }, meta.headers);
            return { ok: true } as const;
          });
          return { resolvers: { Query: { ping: () => "pong" } } };
        },
      }),
    );
    k.addModule({
      name: "ponger",
      version: "1.0.0",
      dependsOn: [],
      typeDefs: SDL("pong"),
      subjects: [],
      publishes: [],
      consumes: ["pinger.pinged"],
      async start(ctx) {
        ctx.on(pinged, async (_e, meta) => {
          if (failOnce) {
            failOnce = false;
            throw new Error("first delivery fails on purpose");
          }
          void meta;
          handled.push({ requestId: currentRequestId(), trace: activeTraceId() });
        });
        return { resolvers: { Query: { pong: () => "ping" } } };
      },
    });
    await k.start();
  });

  afterAll(async () => {
    await k?.stop();
    rmSync(k.config.dataDir, { recursive: true, force: true });
    initTracing({ serviceName: "switchyard-test", exporter });
  });

  test("an event carries the publisher's trace and request id to its consumer; redeliveries are counted", async () => {
    const before = await metricsRegistry.metrics();
    handled = [];
    const traceId = await tracer().startActiveSpan("test root", async (root) => {
      await k.bus.request("pinger.ping", new TextEncoder().encode(JSON.stringify({ n: 1 })), {
        timeoutMs: 2000,
        headers: { "sy-request-id": "req-events-1" },
      });
      root.end();
      return root.spanContext().traceId;
    });
    // The first delivery fails on purpose; the memory transport redelivers after retryDelayMs (1 s).
    await eventually("the redelivered event to be handled", () => handled.length > 0, { timeoutMs: 5000, intervalMs: 50 }).catch(() => {});
    expect(handled).toEqual([{ requestId: "req-events-1", trace: traceId }]);
    const consumed = events.getFinishedSpans().filter((s) => s.name === "event.handle pinger.pinged");
    expect(consumed.length).toBe(2);
    for (const s of consumed) expect(s.spanContext().traceId).toBe(traceId);
    const after = await metricsRegistry.metrics();
    const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    expect(delta("switchyard_events_published_total", { subject: "pinger.pinged", outcome: "ok" })).toBe(1);
    expect(delta("switchyard_events_consumed_total", { subject: "pinger.pinged", consumer: "ponger", outcome: "error" })).toBe(1);
    expect(delta("switchyard_events_consumed_total", { subject: "pinger.pinged", consumer: "ponger", outcome: "ok" })).toBe(1);
    expect(delta("switchyard_events_redelivered_total", { subject: "pinger.pinged", consumer: "ponger" })).toBe(1);
  });
});
