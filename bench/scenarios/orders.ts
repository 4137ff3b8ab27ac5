import { startPostgres } from "../../scripts/devservers/postgres.ts";
import type { ScenarioResult, ScenarioRow } from "../lib/report.ts";
import type { ScenarioContext } from "./index.ts";
import { ADMIN, loadGraphql, startProduct } from "./product.ts";

/** Customers whose tokens the load takes in turn. */
const CUSTOMERS = 50;

const CREATE_ORDER = "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id status total { amount currency } } }";

/**
 * createOrder throughput and latency through the gateway, on one database kind: the product
 * (every module, memory bus) on SQLite files or on PostgreSQL (dev server: fsync off, one
 * database, a schema per module). 20 products get 10⁹ units of stock (admin setStock) so
 * no order fails for stock; 50 registered customers, in turn, order one unit of one product per
 * request, products in turn; every response must be a created order.
 */
async function ordersOn(kind: "sqlite" | "postgres", ctx: ScenarioContext): Promise<ScenarioRow[]> {
  const pg = kind === "postgres" ? await startPostgres() : undefined;
  try {
    const env: Record<string, string> = {};
    if (pg) env["DATABASE_URL"] = await pg.createDatabase("bench");
    const p = await startProduct({ env, serverCpus: ctx.serverCpus, profileName: `orders-${kind}` });
    try {
      const { login } = await p.gql<{ login: { token: string } }>(
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
        { e: ADMIN.email, p: ADMIN.password },
      );
      const { products } = await p.gql<{ products: { edges: { node: { id: string } }[] } }>(
        "{ products(first: 20) { edges { node { id } } } }",
      );
      const ids = products.edges.map((e) => e.node.id);
      if (ids.length === 0) throw new Error("the seeded catalog has no products");
      for (const id of ids) await p.gql("mutation($id: ID!) { setStock(productId: $id, stock: 1000000000) { id } }", { id }, login.token);
      // Many customers, as real traffic: an account's checkouts are serialised by its unpaid-orders
      // limit (ORDER_MAX_PENDING), which one customer placing every order would measure instead.
      const tokens: string[] = [];
      for (let c = 0; c < CUSTOMERS; c++) {
        const { register } = await p.gql<{ register: { token: string } }>(
          "mutation($i: RegisterInput!) { register(input: $i) { token } }",
          { i: { name: `Bench Customer ${c}`, email: `bench-${c}-${Date.now()}@switchyard.example`, password: "bench customer password" } },
        );
        tokens.push(register.token);
      }
      const bodies = ids.map((id) =>
        JSON.stringify({ query: CREATE_ORDER, variables: { input: { items: [{ productId: id, quantity: 1 }] } } }),
      );
      const load = { url: p.url, bodies, mustContain: '"createOrder":{"id":', tokens, loadCpus: ctx.loadCpus };
      await loadGraphql({ ...load, connections: 50, durationS: Math.min(2, ctx.durationS), what: `createOrder warm-up (${kind})` });
      const r = await loadGraphql({ ...load, connections: 50, durationS: ctx.durationS, what: `createOrder (${kind})` });
      const s = await loadGraphql({
        ...load,
        connections: 1,
        durationS: Math.max(1, Math.round(ctx.durationS / 2)),
        what: `createOrder single connection (${kind})`,
      });
      const goal = kind === "sqlite" ? { goal: "≥ 1000/s", met: r.rps >= 1000 } : {};
      return [
        { metric: `createOrder/s, 50 connections (${kind})`, value: r.rps, unit: "req/s", ...goal },
        { metric: `createOrder p50, 50 connections (${kind})`, value: r.p50Ms, unit: "ms" },
        { metric: `createOrder p95, 50 connections (${kind})`, value: r.p95Ms, unit: "ms" },
        { metric: `createOrder p99, 50 connections (${kind})`, value: r.p99Ms, unit: "ms" },
        { metric: `createOrder p50, 1 connection (${kind})`, value: s.p50Ms, unit: "ms" },
        { metric: `createOrder p95, 1 connection (${kind})`, value: s.p95Ms, unit: "ms" },
      ];
    } finally {
      await p.stop();
    }
  } finally {
    await pg?.stop();
  }
}

/** The `orders` scenario: {@link ordersOn} SQLite, then PostgreSQL. */
export async function ordersScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const rows: ScenarioRow[] = [];
  rows.push(...(await ordersOn("sqlite", ctx)));
  rows.push(...(await ordersOn("postgres", ctx)));
  return { name: "orders", describe: ORDERS_DESCRIBE, rows };
}

export const ORDERS_DESCRIBE =
  "createOrder through the gateway (all modules in one process, memory bus): SQLite files, then PostgreSQL (local dev server, fsync off); one unit of one of 20 products per order, the tokens of 50 registered customers in turn, every response checked to be a created order.";
