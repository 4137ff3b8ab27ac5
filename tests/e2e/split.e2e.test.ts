import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { gql } from "graphql-request";
import { join } from "node:path";
import { client } from "../helpers/client.ts";

import { ROOT, startSplitTopology } from "../helpers/topology.ts";
import { opsUrlOf, type SplitProcess, type SplitTopology } from "../../scripts/split-topology.ts";
import { adminJson } from "../helpers/admin.ts";
import { createEtcdRegistry } from "../../src/kernel/registry/etcd.ts";
import { spawnServer } from "../../scripts/devservers/proc.ts";
import { allProducts, orderFlow } from "./flows.ts";
import { eventually } from "../helpers/eventually.ts";

/** Requests a module process served on `subject` (its `/admin/stats`, on its operations listener). */
async function handled(p: SplitProcess, subject: string, graphqlUrl: string): Promise<number> {
  const r = await adminJson<{ handled: Record<string, number> }>(
    opsUrlOf(p),
    { jwtSecret: p.env["JWT_SECRET"] as string, graphqlUrl },
    "/admin/stats",
  );
  return r.handled[subject] ?? 0;
}

/** `/admin/supergraph` of the running gateway (its operations listener, with an admin token). */
function supergraphOf<T>(t: SplitTopology): Promise<T> {
  const gw = t.processes.find((p) => p.part === "gateway" && p.server.proc.exitCode === null);
  if (!gw) throw new Error("no running gateway");
  return adminJson<T>(opsUrlOf(gw), { jwtSecret: t.sharedEnv["JWT_SECRET"] as string, graphqlUrl: t.graphqlUrl }, "/admin/supergraph");
}

const PRODUCT_QUERY = gql`query($id: ID!) { product(id: $id) { id name stock category { name } } }`;

describe("split mode only (4 processes, NATS, etcd, PostgreSQL)", () => {
  let t: SplitTopology;
  let url: string;
  beforeAll(async () => {
    const top = await startSplitTopology({ env: { SUBGRAPH_TIMEOUT_MS: "1500" } });
    t = top.split;
    url = top.graphqlUrl;
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
  });

  test("the order flow works across processes", async () => {
    await orderFlow(url);
  });

  test("two catalog instances share requests; killing one mid-run loses no query; the registry drops it within the lease TTL", async () => {
    const second = await t.spawn("catalog", "catalog-2");
    const first = t.processes.find((p) => p.name === "catalog");
    if (!first) throw new Error("no catalog process");
    const [p] = await allProducts(url);
    if (!p) throw new Error("no products");
    const before1 = await handled(first, "graphql.catalog", url);
    const before2 = await handled(second, "graphql.catalog", url);
    // Distinct documents (an alias each): identical ones would share one fetch (subgraph request
    // deduplication) or be answered by the response cache, and never reach the second instance.
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        client(url).request(`query($id: ID!) { p${i}: product(id: $id) { id name stock } }`, { id: p.id }),
      ),
    );
    expect((await handled(first, "graphql.catalog", url)) - before1).toBeGreaterThan(0);
    expect((await handled(second, "graphql.catalog", url)) - before2).toBeGreaterThan(0);

    // Kill -9 the first instance while queries are running: every query must still succeed.
    const running = Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        await Bun.sleep(i * 10);
        return client(url).request<{ product: { id: string } }>(PRODUCT_QUERY, { id: p.id });
      }),
    );
    await Bun.sleep(150); // mid-load on purpose: the kill lands while requests are in flight
    first.server.proc.kill("SIGKILL");
    const results = await running;
    expect(results.every((r) => r.product.id === p.id)).toBe(true);

    const registry = await createEtcdRegistry({ hosts: [t.etcd.url], ttlS: 3 });
    try {
      await eventually("killed catalog to leave the registry", async () => (await registry.list("catalog")).length === 1, {
        timeoutMs: 10_000,
        intervalMs: 200,
      });
    } finally {
      await registry.close();
    }
  }, 60_000);

  test("a restarted gateway recovers the supergraph from etcd", async () => {
    const gw = t.processes.find((p) => p.part === "gateway" && p.server.proc.exitCode === null);
    if (!gw) throw new Error("no gateway");
    const before = await supergraphOf<{ version: number; subgraphs: string[] }>(t);
    await gw.server.kill();
    const restarted = await t.spawn("gateway", "gateway-2", { PORT: new URL(t.baseUrl).port });
    void restarted;
    await eventually("gateway ready again", async () => (await fetch(`${t.baseUrl}/health/ready`)).status === 200, {
      timeoutMs: 20_000,
      intervalMs: 50,
    });
    const after = await supergraphOf<{ version: number; subgraphs: string[] }>(t);
    expect(after.version).toBe(before.version);
    expect(after.subgraphs).toEqual(before.subgraphs);
    expect(restarted.server.output()).toContain('"msg":"supergraph loaded"');
    const r = await client(url).request<{ categories: { name: string }[] }>(gql`{ categories { name } }`);
    expect(r.categories.length).toBeGreaterThan(0);
  }, 60_000);

  test("a module whose SDL does not compose leaves the gateway on the previous supergraph", async () => {
    const before = await supergraphOf<{ version: number }>(t);
    const rogue = spawnServer([process.execPath, join(ROOT, "tests/fixtures/rogue-module.ts")], {
      env: { ...t.sharedEnv, ...t.natsEnv("rogue") },
    });
    try {
      await eventually(
        "composition error naming the rogue subgraph",
        async () => {
          const s = await supergraphOf<{ errors: { subgraphs: string[] }[] }>(t);
          return s.errors.some((e) => e.subgraphs.includes("rogue"));
        },
        { timeoutMs: 20_000, intervalMs: 200 },
      );
      const after = await supergraphOf<{ version: number; subgraphs: string[] }>(t);
      expect(after.version).toBe(before.version);
      expect(after.subgraphs).not.toContain("rogue");
      expect((await fetch(`${t.baseUrl}/health/ready`)).status).toBe(200);
      const r = await client(url).request<{ categories: { name: string }[] }>(gql`{ categories { name } }`);
      expect(r.categories.length).toBeGreaterThan(0);
    } finally {
      await rogue.kill();
    }
  }, 60_000);
});
