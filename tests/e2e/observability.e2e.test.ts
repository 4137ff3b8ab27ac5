/**
 * Metrics and traces of a createOrder flow, through the real binary, in every topology. Each
 * process exports its spans over OTLP/HTTP (JSON) to a receiver run by this test, so the
 * trace is asserted across processes in split mode.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { client } from "../helpers/client.ts";
import { selectedTopologies, TOPOLOGIES, type Topology } from "../helpers/topology.ts";
import { opsUrlOf, type SplitTopology, type SplitProcess } from "../../scripts/split-topology.ts";
import { adminJson } from "../helpers/admin.ts";
import { allProducts, CREATE_ORDER, newAccount, PAY_ORDER } from "./flows.ts";
import { eventually } from "../helpers/eventually.ts";

/** One span as the OTLP JSON encoding carries it (ids are hex strings). */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  service: string;
}

/** A local OTLP/HTTP collector: POST /v1/traces with a JSON `ExportTraceServiceRequest`. */
function startReceiver(): { url: string; spans: OtlpSpan[]; stop(): void } {
  const spans: OtlpSpan[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const url = new URL(req.url);
      if (req.method !== "POST" || url.pathname !== "/v1/traces") return new Response("not found", { status: 404 });
      const body = (await req.json()) as {
        resourceSpans?: {
          resource?: { attributes?: { key: string; value: { stringValue?: string } }[] };
          scopeSpans?: { spans?: Omit<OtlpSpan, "service">[] }[];
        }[];
      };
      for (const rs of body.resourceSpans ?? []) {
        const service = rs.resource?.attributes?.find((a) => a.key === "service.name")?.value.stringValue ?? "?";
        for (const ss of rs.scopeSpans ?? [])
          for (const s of ss.spans ?? [])
            spans.push({
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              service,
            });
      }
      return Response.json({});
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, spans, stop: () => void server.stop(true) };
}

/** Sum of the values of the sample lines of `name` whose labels include `labels`. */
function total(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum = 0;
  for (const line of text.split("\n")) {
    if ((line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && want.every((w) => line.includes(w)))
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

for (const name of selectedTopologies()) {
  describe(`observability [${name}]`, () => {
    let t: Topology;
    let receiver: ReturnType<typeof startReceiver>;
    let orderId: string;
    const requestId = `obs-e2e-${name}-${Date.now()}`;

    beforeAll(async () => {
      receiver = startReceiver();
      const start = TOPOLOGIES[name];
      if (!start) throw new Error(`unknown topology ${name}`);
      t = await start({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } });
      const acc = await newAccount(t.graphqlUrl, "Olivia Otel");
      const p = (await allProducts(t.graphqlUrl)).find((x) => x.stock > 3);
      if (!p) throw new Error("no product in stock");
      const c = client(t.graphqlUrl, acc.token);
      c.setHeader("x-request-id", requestId);
      const r = await c.request<{ createOrder: { id: string } }>(CREATE_ORDER, { input: { items: [{ productId: p.id, quantity: 1 }] } });
      orderId = r.createOrder.id;
      expect(orderId).toBeTruthy();
      const paid = await c.request<{ payOrder: { status: string } }>(PAY_ORDER, { orderId, token: "tok_visa" });
      expect(paid.payOrder.status).toBe("PAID");
    }, 120_000);

    afterAll(async () => {
      await t?.stop();
      receiver?.stop();
    });

    test("GET /metrics on the gateway shows the createOrder flow", async () => {
      const res = await fetch(`${t.opsUrl}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(
        total(text, "switchyard_http_request_duration_seconds_count", { route: "/graphql", method: "POST", status: "200" }),
      ).toBeGreaterThanOrEqual(3);
      expect(total(text, "switchyard_graphql_operation_duration_seconds_count", { type: "mutation" })).toBeGreaterThanOrEqual(2);
      expect(total(text, "switchyard_subgraph_fetch_duration_seconds_count", { subgraph: "order", outcome: "ok" })).toBeGreaterThanOrEqual(
        1,
      );
      expect(
        total(text, "switchyard_bus_request_duration_seconds_count", { subject: "graphql.order", outcome: "ok" }),
      ).toBeGreaterThanOrEqual(1);
      expect(total(text, "switchyard_circuit_breaker_state", { target: "subgraph:order" })).toBe(0);
      expect(text).toContain("process_resident_memory_bytes");
      if (name === "monolith") {
        // Modules run in this process: their handlers and SQL are here too.
        expect(
          total(text, "switchyard_bus_handler_duration_seconds_count", { subject: "catalog.stock.reserve", outcome: "ok" }),
        ).toBeGreaterThanOrEqual(1);
        expect(total(text, "switchyard_db_query_duration_seconds_count", { module: "order", driver: "sqlite" })).toBeGreaterThanOrEqual(1);
      }
    });

    test("GET /metrics shows the payOrder saga: payment commands over the bus and a completed checkout", async () => {
      // The saga runs in the order module: in this process (monolith) or the order process (split).
      const split = name === "split" ? (t as Topology & { split: SplitTopology }).split : undefined;
      const orderProc = split?.processes.find((p) => p.part === "order" && p.server.proc.exitCode === null);
      const text = await (await fetch(orderProc ? `${opsUrlOf(orderProc)}/metrics` : `${t.opsUrl}/metrics`)).text();
      expect(total(text, "switchyard_saga_outcomes_total", { saga: "checkout", outcome: "completed" })).toBeGreaterThanOrEqual(1);
      expect(
        total(text, "switchyard_bus_request_duration_seconds_count", { subject: "payment.authorize", outcome: "ok" }),
      ).toBeGreaterThanOrEqual(1);
      expect(
        total(text, "switchyard_bus_request_duration_seconds_count", { subject: "payment.capture", outcome: "ok" }),
      ).toBeGreaterThanOrEqual(1);
      const gateway = await (await fetch(`${t.opsUrl}/metrics`)).text();
      expect(
        total(gateway, "switchyard_subgraph_fetch_duration_seconds_count", { subgraph: "order", outcome: "ok" }),
      ).toBeGreaterThanOrEqual(2);
    });

    test("one payOrder trace: gateway → order handler → payment.authorize and payment.capture handled by the payment module", async () => {
      const parent = (s: OtlpSpan) => receiver.spans.find((x) => x.spanId === s.parentSpanId && x.traceId === s.traceId);
      // Each process exports its spans in its own batches: wait until the handler's parent (from
      // the order process) and the authorize handler have arrived too, not just the first span.
      let handler: OtlpSpan | undefined;
      await eventually(
        "the payOrder trace's spans from every process",
        () => {
          const op = receiver.spans.find((s) => s.name === "graphql.mutation Pay");
          handler = op && receiver.spans.find((s) => s.traceId === op.traceId && s.name === "bus.handle payment.capture");
          return Boolean(
            handler &&
              parent(handler) &&
              receiver.spans.some((s) => s.traceId === handler?.traceId && s.name === "bus.handle payment.authorize") &&
              receiver.spans.some((s) => s.traceId === handler?.traceId && s.name === "bus.handle graphql.order"),
          );
        },
        { timeoutMs: 15_000, intervalMs: 100 },
      ).catch(() => {}); // the assertions below say what is missing
      if (!handler)
        throw new Error(`no payment.capture handler span; got: ${receiver.spans.map((s) => `${s.service}:${s.name}`).join(", ")}`);
      const request = parent(handler);
      expect(request?.name).toBe("bus.request payment.capture");
      const inTrace = receiver.spans.filter((s) => s.traceId === handler?.traceId);
      expect(inTrace.some((s) => s.name === "bus.handle payment.authorize")).toBe(true);
      expect(inTrace.some((s) => s.name === "bus.handle graphql.order")).toBe(true);
      if (name === "split") {
        expect(handler.service).toBe("switchyard-payment");
        expect(request?.service).toBe("switchyard-order");
      }
    });

    test("GET /admin/health reports the supergraph, the bus, the registry and the breakers", async () => {
      const h = await adminJson<Record<string, unknown>>(t.opsUrl, t, "/admin/health");
      expect(h).toMatchObject({ status: "ok", role: "gateway", bus: { state: "connected" }, registry: { state: "connected" } });
      expect((h["breakers"] as Record<string, string>)["subgraph:order"]).toBe("closed");
      expect((h["supergraph"] as { subgraphs: string[] }).subgraphs).toEqual(expect.arrayContaining(["account", "catalog", "order"]));
    });

    // Split mode only: the monolith has no module processes (so this test is not defined there, not skipped).
    if (name === "split")
      test("module processes serve their own /metrics and /admin/health (split)", async () => {
        const split = (t as Topology & { split: SplitTopology }).split;
        const proc = (part: string) => split.processes.find((p) => p.part === part && p.server.proc.exitCode === null) as SplitProcess;
        const orderMetrics = await (await fetch(`${opsUrlOf(proc("order"))}/metrics`)).text();
        expect(
          total(orderMetrics, "switchyard_bus_handler_duration_seconds_count", { subject: "graphql.order", outcome: "ok" }),
        ).toBeGreaterThanOrEqual(1);
        expect(
          total(orderMetrics, "switchyard_bus_request_duration_seconds_count", { subject: "catalog.stock.reserve", outcome: "ok" }),
        ).toBeGreaterThanOrEqual(1);
        expect(total(orderMetrics, "switchyard_db_query_duration_seconds_count", { driver: "postgres" })).toBeGreaterThanOrEqual(1);
        const catalogMetrics = await (await fetch(`${opsUrlOf(proc("catalog"))}/metrics`)).text();
        expect(
          total(catalogMetrics, "switchyard_bus_handler_duration_seconds_count", { subject: "catalog.stock.reserve", outcome: "ok" }),
        ).toBeGreaterThanOrEqual(1);
        const h = await adminJson<Record<string, unknown>>(opsUrlOf(proc("order")), t, "/admin/health");
        expect(h).toMatchObject({
          status: "ok",
          role: "modules",
          modules: ["order"],
          bus: { transport: "nats", state: "connected" },
          registry: { kind: "etcd", state: "connected" },
        });
      });

    test("one trace: gateway HTTP → operation → subgraph fetch → bus request → module handler (another process in split) → SQL", async () => {
      const find = (pred: (s: OtlpSpan) => boolean) => receiver.spans.find(pred);
      let handler: OtlpSpan | undefined;
      await eventually(
        "the createOrder trace's spans from every process",
        () => {
          const http = find(
            (s) =>
              s.name === "HTTP POST /graphql" &&
              receiver.spans.some((x) => x.traceId === s.traceId && x.name === "graphql.mutation Create"),
          );
          handler = http && find((s) => s.traceId === http.traceId && s.name === "bus.handle graphql.order");
          // Every process exports in its own batches (the catalog's may come later, its exporter
          // loading on its first batch): wait for the order's SQL and the catalog's handler span.
          const traced = (pred: (x: OtlpSpan) => boolean) => receiver.spans.some((x) => x.traceId === handler?.traceId && pred(x));
          return Boolean(
            handler && traced((x) => x.name.startsWith("db ")) && traced((x) => x.name === "bus.handle catalog.stock.reserve"),
          );
        },
        { timeoutMs: 10_000, intervalMs: 100 },
      ).catch(() => {}); // the assertions below say what is missing
      if (!handler) throw new Error(`no handler span; got: ${receiver.spans.map((s) => `${s.service}:${s.name}`).join(", ")}`);
      const parent = (s: OtlpSpan) => receiver.spans.find((x) => x.spanId === s.parentSpanId && x.traceId === s.traceId);
      const busRequest = parent(handler);
      expect(busRequest?.name).toBe("bus.request graphql.order");
      const fetchSpan = parent(busRequest as OtlpSpan);
      expect(fetchSpan?.name).toBe("subgraph order");
      expect(parent(fetchSpan as OtlpSpan)?.name).toBe("graphql.mutation Create");
      if (name === "split") {
        expect(fetchSpan?.service).toBe("switchyard-gateway");
        expect(handler.service).toBe("switchyard-order");
      }
      // The order module's SQL and its call to the catalog are in the same trace.
      const inTrace = receiver.spans.filter((s) => s.traceId === handler?.traceId);
      expect(inTrace.some((s) => s.name === "bus.handle catalog.stock.reserve")).toBe(true);
      expect(inTrace.some((s) => s.name.startsWith("db ") && (name !== "split" || s.service === "switchyard-order"))).toBe(true);
    });
  });
}
