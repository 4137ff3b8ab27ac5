import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { gql } from "graphql-request";
import { join } from "node:path";
import { client } from "../helpers/client.ts";
import { waitFor } from "../helpers/ports.ts";
import { ROOT, startSplitTopology } from "../helpers/topology.ts";
import type { SplitProcess, SplitTopology } from "../../scripts/split-topology.ts";
import { createEtcdRegistry } from "../../src/kernel/registry/etcd.ts";
import { spawnServer } from "../../src/kernel/devservers/proc.ts";
import { allProducts, orderFlow } from "./flows.ts";

/** Port of a module-only process's health server, read from its log line. */
function opsPort(p: SplitProcess): number {
  const m = /health endpoints on http:\/\/127\.0\.0\.1:(\d+)/.exec(p.server.output());
  if (!m?.[1]) throw new Error(`no ops port in output of ${p.name}`);
  return Number(m[1]);
}

async function handled(p: SplitProcess, subject: string): Promise<number> {
  const r = (await (await fetch(`http://127.0.0.1:${opsPort(p)}/admin/stats`)).json()) as { handled: Record<string, number> };
  return r.handled[subject] ?? 0;
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
    const before1 = await handled(first, "graphql.catalog");
    const before2 = await handled(second, "graphql.catalog");
    await Promise.all(Array.from({ length: 40 }, () => client(url).request(PRODUCT_QUERY, { id: p.id })));
    expect((await handled(first, "graphql.catalog")) - before1).toBeGreaterThan(0);
    expect((await handled(second, "graphql.catalog")) - before2).toBeGreaterThan(0);

    // Kill -9 the first instance while queries are running: every query must still succeed.
    const running = Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        await Bun.sleep(i * 10);
        return client(url).request<{ product: { id: string } }>(PRODUCT_QUERY, { id: p.id });
      }),
    );
    await Bun.sleep(150);
    first.server.proc.kill("SIGKILL");
    const results = await running;
    expect(results.every((r) => r.product.id === p.id)).toBe(true);

    const registry = await createEtcdRegistry({ hosts: [t.etcd.url], ttlS: 3 });
    try {
      await waitFor("killed catalog to leave the registry", async () => (await registry.list("catalog")).length === 1, 10_000, 200);
    } finally {
      await registry.close();
    }
  }, 60_000);

  test("a restarted gateway recovers the supergraph from etcd", async () => {
    const gw = t.processes.find((p) => p.part === "gateway" && p.server.proc.exitCode === null);
    if (!gw) throw new Error("no gateway");
    const before = (await (await fetch(`${t.baseUrl}/admin/supergraph`)).json()) as { version: number; subgraphs: string[] };
    await gw.server.kill();
    const restarted = await t.spawn("gateway", "gateway-2", { PORT: new URL(t.baseUrl).port });
    void restarted;
    await waitFor("gateway ready again", async () => (await fetch(`${t.baseUrl}/health/ready`)).status === 200, 20_000);
    const after = (await (await fetch(`${t.baseUrl}/admin/supergraph`)).json()) as { version: number; subgraphs: string[] };
    expect(after.version).toBe(before.version);
    expect(after.subgraphs).toEqual(before.subgraphs);
    expect(restarted.server.output()).toContain('"msg":"supergraph loaded"');
    const r = await client(url).request<{ categories: { name: string }[] }>(gql`{ categories { name } }`);
    expect(r.categories.length).toBeGreaterThan(0);
  }, 60_000);

  test("a module whose SDL does not compose leaves the gateway on the previous supergraph", async () => {
    const before = (await (await fetch(`${t.baseUrl}/admin/supergraph`)).json()) as { version: number };
    const rogue = spawnServer([process.execPath, join(ROOT, "tests/fixtures/rogue-module.ts")], { env: t.sharedEnv });
    try {
      await waitFor("composition error naming the rogue subgraph", async () => {
        const s = (await (await fetch(`${t.baseUrl}/admin/supergraph`)).json()) as { errors: { subgraphs: string[] }[] };
        return s.errors.some((e) => e.subgraphs.includes("rogue"));
      }, 20_000, 200);
      const after = (await (await fetch(`${t.baseUrl}/admin/supergraph`)).json()) as { version: number; subgraphs: string[] };
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
