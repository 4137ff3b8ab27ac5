/**
 * Hostile unique operations cannot grow the gateway's memory: the parse caches are bounded
 * LRUs, and what is keyed by a document (validation results, the federation runtime's query
 * plans, printed subgraph documents) is freed with it once the LRU evicted it.
 * Runs the real gateway yoga (createGatewayYoga) over the real supergraph of the modules.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { DocumentNode } from "graphql";
import { createLogger } from "../../src/kernel/logger.ts";
import { createMemorySupergraphStore } from "../../src/kernel/supergraph-store/memory.ts";
import { SupergraphManager } from "../../src/gateway/federation/manager.ts";
import { adminJson } from "../helpers/admin.ts";
import { createGatewayYoga } from "../../src/gateway/yoga.ts";
import { createOperationCaches, type OperationCaches } from "../../src/gateway/plugins/operation-cache.ts";
import { startInProcess, type InProcessGateway } from "./harness.ts";
import { BusIdentity, resolveBusSigningKey } from "../../src/kernel/bus-identity.ts";

const MAX = 100;

describe("bounded operation caches", () => {
  let gw: InProcessGateway;
  let caches: OperationCaches;
  let run: (query: string) => Promise<{ data?: Record<string, unknown>; errors?: { extensions?: { code?: string } }[] }>;

  beforeAll(async () => {
    gw = await startInProcess();
    // The supergraph the in-process gateway composed, served by a second gateway yoga whose caches we hold.
    const admin = await adminJson<{ sdl: string }>(
      gw.opsUrl,
      { jwtSecret: gw.config.jwtSecret as string, graphqlUrl: gw.url },
      "/admin/supergraph",
    );
    const logger = createLogger({ level: "silent" });
    const manager = new SupergraphManager({
      bus: gw.bus,
      store: createMemorySupergraphStore(),
      logger,
      subgraphTimeoutMs: 5000,
      identity: new BusIdentity({ key: resolveBusSigningKey(gw.config), ttlMs: gw.config.busIdentityTtlMs }),
    });
    manager.loadStatic({ version: 1, sdl: admin.sdl, subgraphs: {}, composedAt: new Date().toISOString() });
    caches = createOperationCaches(MAX);
    const yoga = createGatewayYoga(manager, logger, [], caches);
    run = async (query) => {
      const res = await yoga.fetch(
        "http://x/graphql",
        { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }) },
        { identity: null, requestId: "t" },
      );
      return (await res.json()) as never;
    };
  }, 60_000);
  afterAll(async () => {
    await gw?.stop();
  }, 60_000);

  test("5,000 unique valid operations: at most MAX documents cached", async () => {
    for (let i = 0; i < 5000; i++) {
      // Unique text each time; every 20th is planned and fetched from a subgraph (the rest is cheap).
      const r = await run(i % 20 === 0 ? `query U${i} { categories { id n${i}: name } }` : `query U${i} { t${i}: __typename }`);
      expect(r.errors).toBeUndefined();
      expect(caches.documentCache.size).toBeLessThanOrEqual(MAX);
    }
    expect(caches.documentCache.size).toBe(MAX);
  }, 180_000);

  test("5,000 unique malformed operations: at most MAX parse errors cached", async () => {
    for (let i = 0; i < 5000; i++) {
      const r = await run(`{ categories { id broken${i} `);
      expect(r.errors?.[0]?.extensions?.code).toBe("GRAPHQL_PARSE_FAILED");
    }
    expect(caches.errorCache.size).toBe(MAX);
  }, 60_000);

  test("a repeated operation is parsed once (served from the cache)", async () => {
    const q = `query Repeat { categories { id } }`;
    await run(q);
    const doc = caches.documentCache.get(q);
    expect(doc).toBeDefined();
    await run(q);
    expect(caches.documentCache.get(q)).toBe(doc as DocumentNode);
  });

  test("documents evicted from the LRU are garbage-collected: validation and plan caches do not retain them", async () => {
    // Plans of these operations are built (entity fetches across two subgraphs) before eviction.
    const tracked: WeakRef<DocumentNode>[] = [];
    for (let i = 0; i < 50; i++) {
      const q = `query Track${i} { products(first: 2) { edges { node { id t${i}: name category { name } } } } }`;
      const r = await run(q);
      expect(r.errors).toBeUndefined();
      tracked.push(new WeakRef(caches.documentCache.get(q) as DocumentNode));
    }
    // Evict them all.
    for (let i = 0; i < MAX * 2; i++) await run(`query Evict${i} { categories { id } }`);
    for (let i = 0; i < 5; i++) {
      Bun.gc(true);
      await Bun.sleep(10);
    }
    const alive = tracked.filter((r) => r.deref() !== undefined).length;
    // Conservative stack scanning may pin a stray object; anything systematic would pin all 50.
    if (alive) console.log(`operation-cache: ${alive}/50 evicted documents still alive after GC`);
    expect(alive).toBeLessThanOrEqual(5);
  }, 60_000);
});
