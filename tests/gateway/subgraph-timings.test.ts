/**
 * Apollo federated tracing: subgraphs answer `ftv1` (inline trace) when the gateway asks over
 * the bus, and the gateway turns them into `extensions.subgraphTimings` for a client sending
 * `x-switchyard-trace: 1` — only where SUBGRAPH_TIMINGS is on.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Trace } from "@apollo/usage-reporting-protobuf";
import { encodeJson } from "../../src/kernel/bus/codec.ts";
import { FTV1, FTV1_HEADER } from "../../src/kernel/subgraph/inline-trace.ts";
import { REQUEST_ID_HEADER } from "../../src/kernel/identity.ts";
import { TRACE_REQUEST_HEADER, decodeFtv1, type SubgraphTiming } from "../../src/gateway/plugins/subgraph-timings.ts";
import { startInProcess, type InProcessGateway } from "./harness.ts";

const ORDERS_ACROSS = `{ me { name orders { id items { quantity product { name } } } } }`;

describe("subgraph timings (development)", () => {
  let gw: InProcessGateway;
  let token: string;
  beforeAll(async () => {
    gw = await startInProcess({ nodeEnv: "development" });
    const reg = await gw.gql<{ register: { token: string } }>(`mutation($i: RegisterInput!) { register(input: $i) { token } }`, {
      i: { name: "Tracy", email: `tracy.${Date.now()}@example.com`, password: "correct horse battery" },
    });
    token = reg.data?.register.token as string;
    const p = await gw.gql<{ products: { edges: { node: { id: string } }[] } }>(`{ products(first: 1) { edges { node { id } } } }`);
    const order = await gw.gql(
      `mutation($i: CreateOrderInput!) { createOrder(input: $i) { id } }`,
      { i: { items: [{ productId: p.data?.products.edges[0]?.node.id, quantity: 1 }] } },
      token,
    );
    expect(order.errors).toBeUndefined();
  }, 60_000);
  afterAll(async () => {
    await gw?.stop();
  }, 60_000);

  test("x-switchyard-trace: 1 → one timing per subgraph fetch, with the subgraph's ftv1 execution time", async () => {
    const r = await gw.gql<{ me: { name: string } }>(ORDERS_ACROSS, {}, token, { [TRACE_REQUEST_HEADER]: "1" });
    expect(r.errors).toBeUndefined();
    expect(r.data?.me.name).toBe("Tracy");
    const timings = r.extensions?.["subgraphTimings"] as SubgraphTiming[];
    expect(new Set(timings.map((t) => t.subgraph))).toEqual(new Set(["account", "order", "catalog"]));
    for (const t of timings) {
      expect(t.operationType).toBe("query");
      expect(typeof t.durationMs).toBe("number");
      // Every subgraph answered with a trace (decoded: execution time and resolvers).
      expect(typeof t.executionMs).toBe("number");
      expect(t.slowestResolvers?.length).toBeGreaterThan(0);
    }
    // The order subgraph resolved `me.orders` (an entity fetch of Account) and its items.
    const order = timings.find((t) => t.subgraph === "order");
    expect(order?.slowestResolvers?.some((x) => x.path.startsWith("_entities."))).toBe(true);
    // Raw ftv1 stays between gateway and subgraphs.
    expect(JSON.stringify(r)).not.toContain("ftv1");
  });

  test("without the header: no timings, and the subgraphs are not asked for traces", async () => {
    const r = await gw.gql(ORDERS_ACROSS, {}, token);
    expect(r.errors).toBeUndefined();
    expect(r.extensions?.["subgraphTimings"]).toBeUndefined();
    expect(JSON.stringify(r)).not.toContain("ftv1");
  });

  test("a subgraph answers ftv1 only when asked, and keeps its error codes in traced responses", async () => {
    const ask = async (query: string, traced: boolean) => {
      const headers: Record<string, string> = { [REQUEST_ID_HEADER]: "trace-test" };
      if (traced) headers[FTV1_HEADER] = FTV1;
      const reply = await gw.bus.request("graphql.catalog", encodeJson({ query }), { headers, timeoutMs: 5000 });
      return reply.json<{ data?: unknown; errors?: { extensions?: { code?: string } }[]; extensions?: { ftv1?: string } }>();
    };
    const plain = await ask(`{ categories { name } }`, false);
    expect(plain.extensions?.ftv1).toBeUndefined();
    const traced = await ask(`{ categories { name } }`, true);
    expect(traced.data).toEqual(plain.data);
    const trace = Trace.decode(Buffer.from(traced.extensions?.ftv1 as string, "base64"));
    expect(trace.root?.child?.map((c) => c.responseName)).toEqual(["categories"]);
    expect(decodeFtv1(traced.extensions?.ftv1 as string).slowestResolvers?.some((x) => x.path === "categories")).toBe(true);
    // An AppError (BAD_USER_INPUT: first > 100) keeps its code on the traced path too.
    const bad = await ask(`{ products(first: 1000) { totalCount } }`, true);
    expect(bad.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(typeof bad.extensions?.ftv1).toBe("string");
  });

  test("an undecodable trace is ignored", () => {
    expect(decodeFtv1("not base64 protobuf!!")).toEqual({});
  });
});

describe("subgraph timings off (production default)", () => {
  let gw: InProcessGateway;
  beforeAll(async () => {
    gw = await startInProcess({ nodeEnv: "production", subgraphTimings: false });
  }, 60_000);
  afterAll(async () => {
    await gw?.stop();
  }, 60_000);

  test("the header is ignored", async () => {
    const r = await gw.gql(`{ categories { name } }`, {}, undefined, { [TRACE_REQUEST_HEADER]: "1" });
    expect(r.errors).toBeUndefined();
    expect(r.extensions?.["subgraphTimings"]).toBeUndefined();
  });
});
