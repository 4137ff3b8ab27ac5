/**
 * QUERY_PLANNER=rust: queries and mutations run on The Guild's Rust query planner
 * (`@graphql-hive/router-runtime`) over the gateway's own bus executors, with the same answers
 * as the stitching runtime, the same authorization, and partial results when a subgraph is down.
 * Runs the modules in process (memory bus); two extra gateway yogas (rust and js) serve the
 * supergraph those modules composed, so both runtimes answer from the same data.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { ExecutionResult } from "graphql";
import type { Plugin } from "graphql-yoga";
import { useQueryPlan } from "@graphql-hive/router-runtime";
import { createLogger } from "../../src/kernel/logger.ts";
import { createMemorySupergraphStore } from "../../src/kernel/supergraph-store/memory.ts";
import { loadConfig } from "../../src/config.ts";
import type { Identity } from "../../src/kernel/identity.ts";
import { SupergraphManager } from "../../src/gateway/federation/manager.ts";
import { adminJson } from "../helpers/admin.ts";
import type { QueryPlannerKind } from "../../src/gateway/federation/query-planner.ts";
import { createGatewayYoga } from "../../src/gateway/yoga.ts";
import { useAuthDirectives } from "../../src/gateway/plugins/auth-directives.ts";
import type { GatewayContext } from "../../src/gateway/context.ts";
import { startInProcess, type InProcessGateway } from "./harness.ts";
import { BusIdentity, resolveBusSigningKey } from "../../src/kernel/bus-identity.ts";
import { eventually } from "../helpers/eventually.ts";

type Result = ExecutionResult<Record<string, unknown>, Record<string, unknown>> & {
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
};
type Run = (query: string, variables?: Record<string, unknown>, identity?: Identity | null) => Promise<Result>;

const ORDER_QUERY = `query O($id: ID!) {
  order(id: $id) {
    id status total { cents currency }
    account { id name orders { id } }
    items { quantity unitPrice { cents } product { id name category { name } } }
    payment { status }
  }
}`;

describe("QUERY_PLANNER=rust", () => {
  let gw: InProcessGateway;
  let sdl: string;
  // Query plans the Rust planner produced for the operations of the rust yoga.
  const plans: unknown[] = [];
  let customer: Identity;
  let orderId: string;

  /** A gateway yoga over `sdl` on the in-process bus, on the given runtime, with the auth plugin. */
  async function gatewayYoga(
    planner: QueryPlannerKind,
    supergraph: string,
    extra: Plugin<GatewayContext>[] = [],
  ): Promise<{ run: Run; manager: SupergraphManager }> {
    const logger = createLogger({ level: "silent" });
    const manager = new SupergraphManager({
      bus: gw.bus,
      store: createMemorySupergraphStore(),
      logger,
      subgraphTimeoutMs: 2000,
      queryPlanner: planner,
      identity: new BusIdentity({ key: resolveBusSigningKey(gw.config), ttlMs: gw.config.busIdentityTtlMs }),
    });
    await manager.loadStatic({ version: 1, sdl: supergraph, subgraphs: {}, composedAt: new Date().toISOString() });
    const yoga = createGatewayYoga(manager, logger, [useAuthDirectives(), ...extra]);
    const run: Run = async (query, variables = {}, identity = null) => {
      const res = await yoga.fetch(
        "http://x/graphql",
        { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables }) },
        { identity, requestId: "qp-test" },
      );
      return (await res.json()) as Result;
    };
    return { run, manager };
  }

  beforeAll(async () => {
    gw = await startInProcess({ queryPlanner: "rust" });
    sdl = (
      await adminJson<{ sdl: string }>(gw.opsUrl, { jwtSecret: gw.config.jwtSecret as string, graphqlUrl: gw.url }, "/admin/supergraph")
    ).sdl;
    // A customer with one order (through the in-process gateway, itself on the Rust planner).
    const reg = await gw.gql<{ register: { token: string; account: { id: string } } }>(
      `mutation { register(input: { name: "Quinn", email: "quinn-qp@example.com", password: "password-123" }) { token account { id } } }`,
    );
    expect(reg.errors).toBeUndefined();
    const token = reg.data!.register.token;
    customer = { accountId: reg.data!.register.account.id, roles: ["customer"] };
    const products = await gw.gql<{ products: { edges: { node: { id: string } }[] } }>(`{ products(first: 2) { edges { node { id } } } }`);
    expect(products.errors).toBeUndefined();
    const items = products.data!.products.edges.map((e) => ({ productId: e.node.id, quantity: 1 }));
    const created = await gw.gql<{ createOrder: { id: string; status: string } }>(
      `mutation C($input: CreateOrderInput!) { createOrder(input: $input) { id status } }`,
      { input: { items } },
      token,
    );
    expect(created.errors).toBeUndefined();
    orderId = created.data!.createOrder.id;
  }, 120_000);
  afterAll(async () => {
    await gw?.stop();
  }, 60_000);

  test("config: QUERY_PLANNER is rust by default, accepts js, rejects anything else", () => {
    const parts = { parts: ["gateway"] };
    const base = { JWT_SECRET: "x".repeat(32) };
    const cfg = (env: Record<string, string>) => loadConfig([], { ...base, ...env }, parts);
    const byDefault = cfg({});
    const js = cfg({ QUERY_PLANNER: "js" });
    expect(byDefault.help === false && byDefault.config.queryPlanner).toBe("rust");
    expect(js.help === false && js.config.queryPlanner).toBe("js");
    expect(() => cfg({ QUERY_PLANNER: "go" })).toThrow(/QUERY_PLANNER/);
  });

  test("a query across four subgraphs is planned by the Rust planner and answers like the stitching runtime", async () => {
    const rust = await gatewayYoga("rust", sdl, [
      useQueryPlan({ onQueryPlan: (plan) => void plans.push(plan) }) as unknown as Plugin<GatewayContext>,
    ]);
    const js = await gatewayYoga("js", sdl);
    const schema = rust.manager.getSchema();
    expect(schema).not.toBeNull();
    expect(rust.manager.getPlannedExecutor(schema!)).toBeDefined();
    expect(js.manager.getPlannedExecutor(js.manager.getSchema()!)).toBeUndefined();

    const viaRust = await rust.run(ORDER_QUERY, { id: orderId }, customer);
    const viaJs = await js.run(ORDER_QUERY, { id: orderId }, customer);
    expect(viaRust.errors).toBeUndefined();
    expect(viaRust).toEqual(viaJs);
    const order = viaRust.data?.["order"] as {
      account: { id: string; orders: { id: string }[] };
      items: { product: { name: string; category: { name: string } } }[];
      payment: unknown;
    };
    expect(order.account.id).toBe(customer.accountId);
    expect(order.account.orders.map((o) => o.id)).toContain(orderId);
    expect(order.items).toHaveLength(2);
    expect(typeof order.items[0]?.product.name).toBe("string");
    expect(order.payment).toBeNull();

    // The plan fetched from order, account, catalog and payment.
    expect(plans).toHaveLength(1);
    const services = new Set([...JSON.stringify(plans[0]).matchAll(/"serviceName":"(\w+)"/g)].map((m) => m[1]));
    expect([...services].sort()).toEqual(["account", "catalog", "order", "payment"]);
  }, 60_000);

  test("a repeated operation is planned once, though the auth plugin rewrites its document per request", async () => {
    // onQueryPlan reports the plan of every operation; a cached plan is the same object again.
    const seen = new Set<unknown>();
    const rust = await gatewayYoga("rust", sdl, [
      useQueryPlan({ onQueryPlan: (plan) => void seen.add(plan) }) as unknown as Plugin<GatewayContext>,
    ]);
    for (let i = 0; i < 3; i++) expect((await rust.run(ORDER_QUERY, { id: orderId }, customer)).errors).toBeUndefined();
    expect(seen.size).toBe(1);
  }, 60_000);

  test("authorization directives still apply: denied fields are null with UNAUTHENTICATED / FORBIDDEN, the rest resolves", async () => {
    const rust = await gatewayYoga("rust", sdl);
    const anon = await rust.run(`{ me { id } categories { name } }`);
    expect(anon.data?.["me"]).toBeNull();
    expect((anon.data?.["categories"] as unknown[]).length).toBeGreaterThan(0);
    expect(anon.errors?.map((e) => e.extensions?.["code"])).toEqual(["UNAUTHENTICATED"]);
    expect(anon.errors?.[0]?.path).toEqual(["me"]);

    const forbidden = await rust.run(`mutation { setStock(productId: "nope", stock: 1) { id } }`, {}, customer);
    expect(forbidden.errors?.map((e) => e.extensions?.["code"])).toEqual(["FORBIDDEN"]);

    const me = await rust.run(`{ me { id name } }`, {}, customer);
    expect(me.errors).toBeUndefined();
    expect(me.data?.["me"]).toEqual({ id: customer.accountId, name: "Quinn" });
  }, 60_000);

  test("a subgraph nobody serves: its fields are null with SUBGRAPH_UNAVAILABLE, the other subgraphs' data is returned", async () => {
    // The same supergraph with the payment subgraph moved to a subject no module answers.
    const broken = sdl.replace("bus://graphql.payment", "bus://graphql.nowhere");
    expect(broken).not.toBe(sdl);
    const rust = await gatewayYoga("rust", broken);
    const r = await rust.run(`query O($id: ID!) { order(id: $id) { id status payment { status } } }`, { id: orderId }, customer);
    expect(r.data?.["order"]).toMatchObject({ id: orderId, status: "PENDING" });
    expect((r.data?.["order"] as { payment: unknown }).payment ?? null).toBeNull();
    expect(r.errors?.map((e) => e.extensions?.["code"])).toEqual(["SUBGRAPH_UNAVAILABLE"]);
  }, 60_000);

  test("the in-process gateway on the Rust planner: a mutation, and a subscription (stitching runtime) that resolves entity fields per event", async () => {
    const login = await gw.gql<{ login: { token: string; account: { id: string } } }>(
      `mutation { login(email: "quinn-qp@example.com", password: "password-123") { token account { id } } }`,
    );
    expect(login.errors).toBeUndefined();
    expect(login.data?.login.account.id).toBe(customer.accountId);
    const products = await gw.gql<{ products: { edges: { node: { id: string; stock: number } }[] } }>(
      `{ products(first: 1) { edges { node { id stock } } } }`,
    );
    const product = products.data!.products.edges[0]!.node;
    // SSE subscription (yoga's subscribe path: the stitching runtime over bus streams).
    const STOCK_CHANGED = "catalog.stock_changed";
    const subscribedBefore = gw.bus.subscriptionsTo(STOCK_CHANGED);
    const ctrl = new AbortController();
    const res = await gw.request("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({
        query: `subscription S($id: ID!) { productStockChanged(productId: $id) { id stock category { name } } }`,
        variables: { id: product.id },
      }),
      signal: ctrl.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    // Ready when the catalog's resolver subscribed to the stock events for this subscription.
    await eventually("the subscription to reach catalog.stock_changed", () => gw.bus.subscriptionsTo(STOCK_CHANGED) > subscribedBefore);
    const order = await gw.gql(
      `mutation C($input: CreateOrderInput!) { createOrder(input: $input) { id } }`,
      { input: { items: [{ productId: product.id, quantity: 1 }] } },
      login.data!.login.token,
    );
    expect(order.errors).toBeUndefined();
    let text = "";
    const decoder = new TextDecoder();
    while (!text.includes("productStockChanged")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    ctrl.abort();
    const event = JSON.parse(
      text
        .split("\n")
        .find((l) => l.startsWith("data:") && l.includes("productStockChanged"))!
        .slice(5),
    ) as { data: { productStockChanged: { id: string; stock: number; category: { name: string } } } };
    expect(event.data.productStockChanged.id).toBe(product.id);
    expect(event.data.productStockChanged.stock).toBe(product.stock - 1);
    expect(typeof event.data.productStockChanged.category.name).toBe("string");
  }, 60_000);
});
