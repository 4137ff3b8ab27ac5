/**
 * Caching and performance end to end, in every topology: the response cache (miss → hit, per
 * caller, invalidated by stock changes and by updateProduct — in split mode on a second gateway
 * too, through the bus), APQ (hash miss → register → hash hit, POST and GET), the allow-list
 * mode, and per-subgraph timings from ftv1 traces.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { signToken } from "../../src/kernel/auth/jwt.ts";
import { decodeJwt } from "jose";
import { freePort } from "../helpers/ports.ts";

import { selectedTopologies, startMonolith, TOPOLOGIES, type Topology } from "../helpers/topology.ts";
import type { SplitTopology } from "../../scripts/split-topology.ts";
import { eventually } from "../helpers/eventually.ts";

const JWT_SECRET = "caching-e2e-secret-caching-e2e-secret-0123";
const sha256 = (s: string): string => createHash("sha256").update(s).digest("hex");

/** The allow-list of the second gateway (Apollo persisted query manifest format). */
const LISTED_PRODUCT = `query ListedProduct($id: ID!) { product(id: $id) { id name stock } }`;
const LISTED_FIRST = `query ListedFirst { products(first: 1) { edges { node { id } } } }`;
const MANIFEST = {
  format: "apollo-persisted-query-manifest",
  version: 1,
  operations: [
    { id: sha256(LISTED_PRODUCT), body: LISTED_PRODUCT, name: "ListedProduct", type: "query" },
    { id: sha256(LISTED_FIRST), body: LISTED_FIRST, name: "ListedFirst", type: "query" },
  ],
};
const byHash = (query: string) => ({ extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } } });

interface Res<T = Record<string, unknown>> {
  status: number;
  data?: T;
  errors?: { message: string; extensions?: { code?: string } }[];
  extensions?: Record<string, unknown>;
}
type CacheMeta = { hit?: boolean; didCache?: boolean };
const cacheMeta = (r: Res<unknown>): CacheMeta | undefined => r.extensions?.["responseCache"] as CacheMeta | undefined;
const codes = (r: Res<unknown>) => (r.errors ?? []).map((e) => e.extensions?.code);

async function post<T>(url: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Res<T>> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  return { status: res.status, ...((await res.json()) as Omit<Res<T>, "status">) };
}
const gql = <T>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
  headers: Record<string, string> = {},
) => post<T>(url, { query, variables }, { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) });

for (const name of selectedTopologies()) {
  describe(`caching and persisted operations [${name}]`, () => {
    let t: Topology;
    let url: string;
    /** A second gateway with PERSISTED_OPERATIONS=only (split: same bus; monolith: its own process). */
    let pqUrl: string;
    let stopPq: (() => Promise<void>) | undefined;
    let dir: string;
    let productId: string;
    let tokenA: string;
    let tokenB: string;
    let admin: string;

    const register = async (who: string): Promise<string> => {
      const r = await gql<{ register: { token: string } }>(url, `mutation($i: RegisterInput!) { register(input: $i) { token } }`, {
        i: {
          name: who,
          email: `${who.toLowerCase()}.${Date.now()}.${Math.random().toString(36).slice(2)}@example.com`,
          password: "correct horse battery",
        },
      });
      if (!r.data) throw new Error(JSON.stringify(r.errors));
      return r.data.register.token;
    };

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "switchyard-caching-e2e-"));
      const manifest = join(dir, "persisted-operations.json");
      writeFileSync(manifest, JSON.stringify(MANIFEST));
      const start = TOPOLOGIES[name];
      if (!start) throw new Error(`unknown topology ${name}`);
      const env = { JWT_SECRET, NODE_ENV: "development" };
      t = await start({ env });
      url = t.graphqlUrl;
      const pqEnv = { ...env, PERSISTED_OPERATIONS: "only", PERSISTED_OPERATIONS_FILE: manifest };
      const split = (t as Topology & { split?: SplitTopology }).split;
      if (split) {
        const port = await freePort();
        await split.spawn("gateway", "gateway-pq", { ...pqEnv, PORT: String(port) });
        pqUrl = `http://127.0.0.1:${port}/graphql`;
        await eventually(
          "second gateway ready",
          async () => (await fetch(pqUrl.replace("/graphql", "/health/ready")).catch(() => null))?.status === 200,
          { timeoutMs: 60_000, intervalMs: 50 },
        );
      } else {
        const pq = await startMonolith({ env: pqEnv });
        pqUrl = pq.graphqlUrl;
        stopPq = () => pq.stop();
      }
      const list = await gql<{ products: { edges: { node: { id: string; stock: number; name: string } }[] } }>(
        url,
        `{ products(first: 100) { edges { node { id name stock } } } }`,
      );
      const p = list.data?.products.edges.map((e) => e.node).find((n) => n.stock >= 10 && !n.name.startsWith("Limited Edition"));
      if (!p) throw new Error("seed has no product with stock >= 10");
      productId = p.id;
      tokenA = await register("Ada");
      tokenB = await register("Brian");
      // The admin role is signed in, for a real account (the gateway refuses tokens of missing accounts).
      admin = await signToken(
        JWT_SECRET,
        { accountId: decodeJwt(await register("Admin")).sub as string, roles: ["customer", "admin"] },
        3600,
      );
    }, 240_000);
    afterAll(async () => {
      await stopPq?.();
      await t?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }, 60_000);

    test("a product read is a cache miss, then a hit with the same data", async () => {
      const q = `query Miss($id: ID!) { product(id: $id) { id name price { amount } category { name } } }`;
      const first = await gql(url, q, { id: productId });
      expect(first.errors).toBeUndefined();
      expect(cacheMeta(first)).toMatchObject({ hit: false, didCache: true });
      const second = await gql(url, q, { id: productId });
      expect(cacheMeta(second)).toEqual({ hit: true });
      expect(second.data).toEqual(first.data as Record<string, unknown>);
    });

    test("a per-user query is never served to another user", async () => {
      const me = `{ me { id name } }`;
      const a = await gql<{ me: { name: string } }>(url, me, {}, tokenA);
      expect(a.data?.me.name).toBe("Ada");
      expect(cacheMeta(a)).toMatchObject({ hit: false, didCache: false });
      const b = await gql<{ me: { name: string } }>(url, me, {}, tokenB);
      expect(b.data?.me.name).toBe("Brian");
      expect(cacheMeta(b)?.hit).toBe(false);
      // Public data is cached per caller too: Ada's entry is never Brian's.
      const q = `query PerCaller($id: ID!) { product(id: $id) { id name } }`;
      await gql(url, q, { id: productId }, tokenA);
      expect(cacheMeta(await gql(url, q, { id: productId }, tokenA))).toEqual({ hit: true });
      expect(cacheMeta(await gql(url, q, { id: productId }, tokenB))).toMatchObject({ hit: false });
    });

    test("a cached product read is invalidated by a stock change (createOrder → catalog.stock_changed)", async () => {
      const q = `query CachedStock($id: ID!) { product(id: $id) { id stock } }`;
      const before = await gql<{ product: { stock: number } }>(url, q, { id: productId });
      expect(cacheMeta(await gql(url, q, { id: productId }))).toEqual({ hit: true });
      const stock = before.data?.product.stock as number;
      // The mutation's result holds no product: only the bus event can drop the entry.
      const order = await gql(
        url,
        `mutation($i: CreateOrderInput!) { createOrder(input: $i) { id } }`,
        { i: { items: [{ productId, quantity: 2 }] } },
        tokenA,
      );
      expect(order.errors).toBeUndefined();
      const after = await eventually(
        "the order's stock change to reach the read",
        async () => {
          const r = await gql<{ product: { stock: number } }>(url, q, { id: productId });
          expect(r.data?.product.stock).toBe(stock - 2);
          return r;
        },
        { timeoutMs: 10_000, intervalMs: 20 },
      );
      expect(cacheMeta(after)?.hit).toBe(false);
    });

    test("a cached product read is invalidated by updateProduct within the same request cycle (and on every gateway)", async () => {
      const q = `query CachedName($id: ID!) { product(id: $id) { id name } }`;
      const before = await gql<{ product: { name: string } }>(url, q, { id: productId });
      expect(cacheMeta(await gql(url, q, { id: productId }))).toEqual({ hit: true });
      // Split: the second gateway caches the product too (an allow-listed operation, by hash).
      const listed = () => post<{ product: { name: string } }>(pqUrl, { variables: { id: productId }, ...byHash(LISTED_PRODUCT) });
      if (name === "split") {
        await listed();
        expect(cacheMeta(await listed())).toEqual({ hit: true });
      }

      const renamed = `${before.data?.product.name} — ${Date.now()}`;
      const upd = await gql<{ updateProduct: { name: string } }>(
        url,
        `mutation($id: ID!, $i: UpdateProductInput!) { updateProduct(id: $id, input: $i) { id name } }`,
        { id: productId, i: { name: renamed } },
        admin,
      );
      expect(upd.errors).toBeUndefined();
      // The very next read on this gateway is fresh.
      const after = await gql<{ product: { name: string } }>(url, q, { id: productId });
      expect(after.data?.product.name).toBe(renamed);
      expect(cacheMeta(after)?.hit).toBe(false);
      if (name === "split") {
        // The other gateway drops its entry on catalog.product_changed (over NATS).
        const other = await eventually(
          "the rename to reach the other gateway",
          async () => {
            const r = await listed();
            expect(r.data?.product.name).toBe(renamed);
            return r;
          },
          { timeoutMs: 10_000, intervalMs: 20 },
        );
        expect(cacheMeta(other)?.hit).toBe(false);
      }
    });

    test("a refused or failed setStock invalidates nothing (cache stays warm); an admin's setStock drops that product only (and on every gateway)", async () => {
      const list = await gql<{ products: { edges: { node: { id: string } }[] } }>(url, `{ products(first: 5) { edges { node { id } } } }`);
      const other = list.data?.products.edges.map((e) => e.node.id).find((id) => id !== productId) as string;
      const q = `query Warm($id: ID!) { product(id: $id) { id name stock } }`;
      const listed = () => post<{ product: { stock: number } }>(pqUrl, { variables: { id: productId }, ...byHash(LISTED_PRODUCT) });
      for (const id of [productId, other]) {
        await gql(url, q, { id });
        expect(cacheMeta(await gql(url, q, { id }))).toEqual({ hit: true });
      }
      if (name === "split") {
        await listed();
        expect(cacheMeta(await listed())).toEqual({ hit: true });
      }
      const setStock = `mutation S($id: ID!, $n: Int!) { setStock(productId: $id, stock: $n) { id stock } }`;
      const refused = [
        await gql(url, setStock, { id: "zzz", n: 0 }),
        await gql(url, setStock, { id: productId, n: 0 }),
        await gql(url, setStock, { id: productId, n: 0 }, tokenA),
        await gql(url, setStock, { id: "zzz", n: 0 }, admin),
      ];
      expect(refused.map((r) => codes(r)[0])).toEqual(["UNAUTHENTICATED", "UNAUTHENTICATED", "FORBIDDEN", expect.any(String)]);
      for (const r of refused) expect((r.data as Record<string, unknown> | undefined)?.["setStock"] ?? null).toBeNull();
      // Long enough for any bus event to arrive; none should drop anything.
      await Bun.sleep(300);
      for (const id of [productId, other]) expect(cacheMeta(await gql(url, q, { id }))).toEqual({ hit: true });
      if (name === "split") expect(cacheMeta(await listed())).toEqual({ hit: true });

      const before = (await gql<{ product: { stock: number } }>(url, q, { id: productId })).data?.product.stock as number;
      const ok = await gql(url, setStock, { id: productId, n: before + 1 }, admin);
      expect(ok.errors).toBeUndefined();
      // This gateway: the next read is fresh.
      const after = await gql<{ product: { stock: number } }>(url, q, { id: productId });
      expect(cacheMeta(after)?.hit).toBe(false);
      expect(after.data?.product.stock).toBe(before + 1);
      if (name === "split") {
        const fresh = await eventually(
          "the stock change to reach the other gateway",
          async () => {
            const r = await listed();
            expect(r.data?.product.stock).toBe(before + 1);
            return r;
          },
          { timeoutMs: 10_000, intervalMs: 20 },
        );
        expect(cacheMeta(fresh)?.hit).toBe(false);
      }
      await Bun.sleep(300); // a window in which a wrong invalidation of the other product would land
      expect(cacheMeta(await gql(url, q, { id: other }))).toEqual({ hit: true });
    });

    test("APQ: hash miss → PERSISTED_QUERY_NOT_FOUND, query + hash registers, then the hash alone works (POST and GET)", async () => {
      const query = `query Apq${Date.now()} { categories { id name } }`;
      const ext = { persistedQuery: { version: 1, sha256Hash: sha256(query) } };
      const miss = await post(url, { extensions: ext });
      expect(miss.status).toBe(404);
      expect(codes(miss)).toEqual(["PERSISTED_QUERY_NOT_FOUND"]);
      const reg = await post<{ categories: unknown[] }>(url, { query, extensions: ext });
      expect(reg.data?.categories.length).toBeGreaterThan(0);
      const hit = await post<{ categories: unknown[] }>(url, { extensions: ext });
      expect(hit.data?.categories).toEqual(reg.data?.categories as unknown[]);
      const get = new URL(url);
      get.searchParams.set("extensions", JSON.stringify(ext));
      const res = await fetch(get, { headers: { accept: "application/json", "apollo-require-preflight": "true" } });
      expect(res.status).toBe(200);
      expect(((await res.json()) as Res<{ categories: unknown[] }>).data?.categories).toEqual(reg.data?.categories as unknown[]);
    });

    test("allow-list mode: a listed operation runs, an unknown one is rejected", async () => {
      // (The monolith's second gateway is another process with its own catalog: ids come from it.)
      const first = await post<{ products: { edges: { node: { id: string } }[] } }>(pqUrl, byHash(LISTED_FIRST));
      expect(first.errors).toBeUndefined();
      const id = first.data?.products.edges[0]?.node.id as string;
      const listed = await post<{ product: { id: string } }>(pqUrl, { variables: { id }, ...byHash(LISTED_PRODUCT) });
      expect(listed.errors).toBeUndefined();
      expect(listed.data?.product.id).toBe(id);
      const unknownHash = await post(pqUrl, {
        extensions: { persistedQuery: { version: 1, sha256Hash: sha256("{ categories { id } }") } },
      });
      expect(unknownHash.status).toBe(404);
      expect(codes(unknownHash)).toEqual(["PERSISTED_QUERY_NOT_FOUND"]);
      const text = await gql(pqUrl, `{ categories { id } }`);
      expect(text.status).toBe(400);
      expect(codes(text)).toEqual(["PERSISTED_QUERY_ONLY"]);
      expect(text.data).toBeUndefined();
    });

    test("x-switchyard-trace: 1 → per-subgraph timings from ftv1 traces", async () => {
      const order = await gql(
        url,
        `mutation($i: CreateOrderInput!) { createOrder(input: $i) { id } }`,
        { i: { items: [{ productId, quantity: 1 }] } },
        tokenB,
      );
      expect(order.errors).toBeUndefined();
      const q = `{ me { name orders { id items { quantity product { name } } } } }`;
      const traced = await gql<{ me: { name: string } }>(url, q, {}, tokenB, { "x-switchyard-trace": "1" });
      expect(traced.errors).toBeUndefined();
      const timings = traced.extensions?.["subgraphTimings"] as { subgraph: string; durationMs: number; executionMs?: number }[];
      expect(new Set(timings.map((x) => x.subgraph))).toEqual(new Set(["account", "order", "catalog"]));
      for (const x of timings) expect(typeof x.executionMs).toBe("number");
      const plain = await gql(url, q, {}, tokenB);
      expect(plain.extensions?.["subgraphTimings"]).toBeUndefined();
    });
  });
}
