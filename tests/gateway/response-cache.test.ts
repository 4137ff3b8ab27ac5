/**
 * The response cache on the real gateway (every module + gateway in one process): hits and
 * misses, scoping per caller, invalidation by mutations and by catalog bus events, and what
 * development vs production shows. Unit cases of the plugin (supergraph swap, TTLs) use a
 * small yoga server.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createYoga, createSchema } from "graphql-yoga";
import { encodeJson } from "../../src/kernel/bus/codec.ts";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import { signToken } from "../../src/kernel/auth/jwt.ts";
import { decodeJwt } from "jose";
import type { GatewayContext } from "../../src/gateway/context.ts";
import { createResponseCache, INVALIDATING_EVENTS, responseCacheTotals } from "../../src/gateway/plugins/response-cache.ts";
import { parseTtls } from "../../src/kernel/config.ts";
import { startInProcess, type InProcessGateway } from "./harness.ts";
import { eventually } from "../helpers/eventually.ts";

const PRODUCT = `query P($id: ID!) { product(id: $id) { id name stock } }`;
const PRODUCTS = `{ products(first: 5) { edges { node { id name stock category { name } } } } }`;
const ME = `{ me { id name } }`;
type Meta = { hit?: boolean; didCache?: boolean; ttl?: number };
const meta = (r: { extensions?: Record<string, unknown> }): Meta | undefined => r.extensions?.["responseCache"] as Meta | undefined;

describe("response cache on the gateway (development)", () => {
  let gw: InProcessGateway;
  let productId: string;
  let tokenA: string;
  let tokenB: string;

  const register = async (name: string): Promise<string> => {
    const r = await gw.gql<{ register: { token: string } }>(`mutation($i: RegisterInput!) { register(input: $i) { token } }`, {
      i: {
        name,
        email: `${name.toLowerCase()}.${Date.now()}.${Math.random().toString(36).slice(2)}@example.com`,
        password: "correct horse battery",
      },
    });
    if (!r.data) throw new Error(JSON.stringify(r.errors));
    return r.data.register.token;
  };

  beforeAll(async () => {
    gw = await startInProcess({ nodeEnv: "development" });
    const r = await gw.gql<{ products: { edges: { node: { id: string; stock: number } }[] } }>(
      `{ products(first: 100) { edges { node { id stock } } } }`,
    );
    const p = r.data?.products.edges.map((e) => e.node).find((n) => n.stock > 5);
    if (!p) throw new Error("seed has no product with stock > 5");
    productId = p.id;
    tokenA = await register("Alice");
    tokenB = await register("Bob");
  }, 60_000);
  afterAll(async () => {
    await gw?.stop();
  }, 60_000);

  test("a product read is a miss, then a hit with the same data; the counters move", async () => {
    const before = { ...responseCacheTotals };
    const first = await gw.gql(PRODUCT, { id: productId });
    expect(meta(first)).toMatchObject({ hit: false, didCache: true, ttl: 60_000 });
    const second = await gw.gql(PRODUCT, { id: productId });
    expect(meta(second)).toEqual({ hit: true });
    expect(second.data).toEqual(first.data as Record<string, unknown>);
    const etag = second.headers.get("etag") as string;
    expect(etag).toBeTruthy();
    // A client holding the entry's ETag gets 304 Not Modified while the entry lives.
    const res = await gw.request("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", "if-none-match": etag },
      body: JSON.stringify({ query: PRODUCT, variables: { id: productId } }),
    });
    expect(res.status).toBe(304);
    expect(responseCacheTotals.misses - before.misses).toBe(1);
    expect(responseCacheTotals.stored - before.stored).toBe(1);
    expect(responseCacheTotals.hits - before.hits).toBe(1);
    // Other variables are another entry.
    const list = await gw.gql(PRODUCTS);
    expect(meta(list)).toMatchObject({ hit: false, didCache: true });
    expect(meta(await gw.gql(PRODUCTS))).toEqual({ hit: true });
  });

  test("a response with an account or an order is never cached, and each caller gets their own", async () => {
    const a1 = await gw.gql<{ me: { name: string } }>(ME, {}, tokenA);
    expect(a1.data?.me.name).toBe("Alice");
    expect(meta(a1)).toMatchObject({ hit: false, didCache: false });
    const b1 = await gw.gql<{ me: { name: string } }>(ME, {}, tokenB);
    expect(b1.data?.me.name).toBe("Bob");
    expect(meta(b1)).toMatchObject({ hit: false, didCache: false });
    expect(meta(await gw.gql(ME, {}, tokenA))).toMatchObject({ hit: false });
    // Public data is cached per caller: Alice's entry is not Bob's (nor the anonymous one).
    const q = `query Scoped($id: ID!) { product(id: $id) { id name } }`;
    expect(meta(await gw.gql(q, { id: productId }, tokenA))).toMatchObject({ hit: false, didCache: true });
    expect(meta(await gw.gql(q, { id: productId }, tokenA))).toEqual({ hit: true });
    expect(meta(await gw.gql(q, { id: productId }, tokenB))).toMatchObject({ hit: false, didCache: true });
    expect(meta(await gw.gql(q, { id: productId }))).toMatchObject({ hit: false, didCache: true });
  });

  test("the same account with other roles does not share entries", async () => {
    const q = `query Roles($id: ID!) { product(id: $id) { id } }`;
    // Tokens of one real account (the gateway refuses tokens of missing accounts), with other roles.
    const accountId = decodeJwt(tokenA).sub as string;
    const customer = await signToken(gw.config.jwtSecret as string, { accountId, roles: ["customer"] }, 600);
    const admin = await signToken(gw.config.jwtSecret as string, { accountId, roles: ["customer", "admin"] }, 600);
    expect(meta(await gw.gql(q, { id: productId }, customer))).toMatchObject({ hit: false, didCache: true });
    expect(meta(await gw.gql(q, { id: productId }, admin))).toMatchObject({ hit: false, didCache: true });
    expect(meta(await gw.gql(q, { id: productId }, customer))).toEqual({ hit: true });
  });

  test("a stock change (createOrder elsewhere → catalog.stock_changed) drops the cached product", async () => {
    const q = `query Stock($id: ID!) { product(id: $id) { id stock } }`;
    const before = await gw.gql<{ product: { stock: number } }>(q, { id: productId });
    expect(meta(await gw.gql(q, { id: productId }))).toEqual({ hit: true });
    // The mutation returns no product: only the bus event can invalidate.
    const order = await gw.gql(
      `mutation($i: CreateOrderInput!) { createOrder(input: $i) { id } }`,
      { i: { items: [{ productId, quantity: 2 }] } },
      tokenA,
    );
    expect(order.errors).toBeUndefined();
    let after: { data?: { product: { stock: number } }; extensions?: Record<string, unknown> } = {};
    await eventually(
      "the order's stock change to reach the read",
      async () => {
        after = await gw.gql<{ product: { stock: number } }>(q, { id: productId });
        return after.data?.product.stock === (before.data?.product.stock as number) - 2;
      },
      { timeoutMs: 5000 },
    );
    expect(meta(after)?.hit).toBe(false);
  });

  test("a bus event published by anyone invalidates (what another gateway or module instance sends)", async () => {
    const q = `query Evt($id: ID!) { product(id: $id) { id name } }`;
    await gw.gql(q, { id: productId });
    expect(meta(await gw.gql(q, { id: productId }))).toEqual({ hit: true });
    gw.bus.publish(
      "catalog.product_changed",
      encodeJson({ eventId: "e1", productId, change: "updated", occurredAt: new Date().toISOString() }),
    );
    await eventually(
      "meta(await gw.gql(q, { id: productId }))?.hit === false",
      async () => meta(await gw.gql(q, { id: productId }))?.hit === false,
      { timeoutMs: 5000 },
    );
    // An event for another product leaves the entry alone.
    expect(meta(await gw.gql(q, { id: productId }))).toEqual({ hit: true });
    gw.bus.publish(
      "catalog.stock_changed",
      encodeJson({ eventId: "e2", productId: "another-product", stock: 1, occurredAt: new Date().toISOString() }),
    );
    await gw.bus.flush();
    expect(meta(await gw.gql(q, { id: productId }))).toEqual({ hit: true });
  });

  test("a mutation returning the product drops it on this gateway at once (updateProduct)", async () => {
    const admin = await signToken(
      gw.config.jwtSecret as string,
      { accountId: decodeJwt(tokenB).sub as string, roles: ["customer", "admin"] },
      600,
    );
    const q = `query Name($id: ID!) { product(id: $id) { id name } }`;
    const before = await gw.gql<{ product: { name: string } }>(q, { id: productId });
    expect(meta(await gw.gql(q, { id: productId }))).toEqual({ hit: true });
    const name = `${before.data?.product.name} (renamed)`;
    const upd = await gw.gql(
      `mutation($id: ID!, $i: UpdateProductInput!) { updateProduct(id: $id, input: $i) { id name } }`,
      { id: productId, i: { name } },
      admin,
    );
    expect(upd.errors).toBeUndefined();
    const after = await gw.gql<{ product: { name: string } }>(q, { id: productId });
    expect(after.data?.product.name).toBe(name);
    expect(meta(after)?.hit).toBe(false);
  });

  test("a refused or failed mutation invalidates nothing; a successful setStock drops that product only", async () => {
    const ids =
      (
        await gw.gql<{ products: { edges: { node: { id: string } }[] } }>(`{ products(first: 2) { edges { node { id } } } }`)
      ).data?.products.edges.map((e) => e.node.id) ?? [];
    const other = ids.find((id) => id !== productId) as string;
    const q = `query Warm($id: ID!) { product(id: $id) { id name stock } }`;
    const list = `{ products(first: 3) { edges { node { name stock } } } }`;
    const warm = async () => {
      for (const v of [{ id: productId }, { id: other }]) await gw.gql(q, v);
      await gw.gql(list);
      for (const v of [{ id: productId }, { id: other }]) expect(meta(await gw.gql(q, v))).toEqual({ hit: true });
      expect(meta(await gw.gql(list))).toEqual({ hit: true });
    };
    await warm();
    const setStock = `mutation S($id: ID!, $n: Int!) { setStock(productId: $id, stock: $n) { id stock } }`;
    const customer = tokenA;
    const admin = await signToken(
      gw.config.jwtSecret as string,
      { accountId: decodeJwt(tokenB).sub as string, roles: ["customer", "admin"] },
      600,
    );
    // Anonymous, a customer, an admin on a product that does not exist: all refused or failed.
    for (const [vars, token] of [
      [{ id: "zzz", n: 0 }, undefined],
      [{ id: productId, n: 0 }, undefined],
      [{ id: productId, n: 0 }, customer],
      [{ id: "zzz", n: 0 }, admin],
    ] as const) {
      const r = await gw.gql(setStock, vars, token);
      expect(r.errors?.length).toBeGreaterThan(0);
      expect(r.data?.["setStock"] ?? null).toBeNull();
    }
    await gw.bus.flush();
    expect(meta(await gw.gql(q, { id: productId }))).toEqual({ hit: true });
    expect(meta(await gw.gql(q, { id: other }))).toEqual({ hit: true });
    expect(meta(await gw.gql(list))).toEqual({ hit: true });
    // An admin's setStock drops that product's entries at once, on this gateway.
    const before = (await gw.gql<{ product: { stock: number } }>(q, { id: productId })).data?.product.stock as number;
    const ok = await gw.gql(setStock, { id: productId, n: before + 1 }, admin);
    expect(ok.errors).toBeUndefined();
    const after = await gw.gql<{ product: { stock: number } }>(q, { id: productId });
    expect(meta(after)?.hit).toBe(false);
    expect(after.data?.product.stock).toBe(before + 1);
    await gw.bus.flush();
    // The other product's entry stays.
    expect(meta(await gw.gql(q, { id: other }))).toEqual({ hit: true });
  });
});

describe("response cache in production", () => {
  let gw: InProcessGateway;
  beforeAll(async () => {
    gw = await startInProcess({ nodeEnv: "production" });
  }, 60_000);
  afterAll(async () => {
    await gw?.stop();
  }, 60_000);

  test("no extensions.responseCache, but hits are counted", async () => {
    const before = { ...responseCacheTotals };
    const first = await gw.gql(PRODUCTS);
    const second = await gw.gql(PRODUCTS);
    expect(first.extensions?.["responseCache"]).toBeUndefined();
    expect(second.extensions?.["responseCache"]).toBeUndefined();
    expect(second.data).toEqual(first.data as Record<string, unknown>);
    expect(responseCacheTotals.hits - before.hits).toBe(1);
    expect(responseCacheTotals.misses - before.misses).toBe(1);
  });
});

describe("createResponseCache (unit)", () => {
  // A tiny public catalog: `Product` has a TTL, `Secret` has none (default TTL 0 → not cached).
  let calls = 0;
  let name = "v1";
  const schema = createSchema<GatewayContext>({
    typeDefs: `type Product { id: ID! name: String! } type Secret { id: ID! value: String! } type Query { product: Product! secret: Secret! }`,
    resolvers: { Query: { product: () => (calls++, { id: "p1", name }), secret: () => (calls++, { id: "s1", value: "x" }) } },
  });
  const setup = () => {
    let version = 1;
    const swaps = new Set<() => void>();
    const bus = createMemoryBus();
    const cache = createResponseCache({
      bus,
      logger: createLogger({ level: "silent" }),
      max: 2,
      ttlMs: 0,
      ttls: parseTtls("Product=60000"),
      schemaVersion: () => version,
      onSchemaSwap: (fn) => (swaps.add(fn), () => swaps.delete(fn)),
      exposeMetadata: true,
    });
    const yoga = createYoga<GatewayContext>({ schema, plugins: [cache.plugin], logging: false });
    const run = async (query: string): Promise<{ data?: Record<string, unknown>; extensions?: Record<string, unknown> }> => {
      const res = await yoga.fetch(
        "http://x/graphql",
        { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }) },
        { identity: null, requestId: "t" },
      );
      return (await res.json()) as never;
    };
    const swap = () => {
      version++;
      for (const fn of swaps) fn();
    };
    return { cache, run, swap, bus, yoga };
  };

  test("operations executed through getEnveloped (graphql-ws) bypass the cache instead of failing", async () => {
    const { yoga, cache } = setup();
    const request = new Request("http://x/graphql");
    const {
      execute,
      parse,
      contextFactory,
      schema: s,
    } = yoga.getEnveloped({ identity: null, requestId: "ws", request, params: { query: "{ product { id name } }" } });
    for (let i = 0; i < 2; i++) {
      const r = (await execute({ schema: s, document: parse("{ product { id name } }"), contextValue: await contextFactory() })) as {
        data?: unknown;
        errors?: unknown;
      };
      expect(r.errors).toBeUndefined();
      expect(r.data).toEqual({ product: { id: "p1", name } });
    }
    expect(cache.stats.hits + cache.stats.misses).toBe(0);
    cache.stop();
  });

  test("types without a TTL are not cached; the LRU keeps at most max entries", async () => {
    const { run, cache } = setup();
    expect(meta(await run(`{ secret { id value } }`))).toMatchObject({ hit: false, didCache: false });
    expect(meta(await run(`{ product { id name } }`))).toMatchObject({ didCache: true });
    expect(meta(await run(`{ a: product { id } }`))).toMatchObject({ didCache: true });
    expect(meta(await run(`{ b: product { id } }`))).toMatchObject({ didCache: true });
    // max 2: the least recently used (the first) was evicted.
    expect(meta(await run(`{ product { id name } }`))).toMatchObject({ hit: false });
    expect(cache.stats.hits).toBe(0);
    cache.stop();
  });

  test("a supergraph swap empties the cache and keys carry the version (no stale shape)", async () => {
    const { run, swap, cache } = setup();
    name = "v1";
    await run(`{ product { id name } }`);
    expect(meta(await run(`{ product { id name } }`))).toEqual({ hit: true });
    name = "v2";
    swap();
    const after = await run(`{ product { id name } }`);
    expect(meta(after)?.hit).toBe(false);
    expect(after.data).toEqual({ product: { id: "p1", name: "v2" } });
    expect(cache.stats.invalidations).toBeGreaterThanOrEqual(1);
    cache.stop();
  });

  test("a response showing a product without its id is dropped when that product changes (the document is not extended with ids)", async () => {
    const { run, bus, cache } = setup();
    const q = `{ product { name } }`;
    await run(q);
    expect(meta(await run(q))).toEqual({ hit: true });
    // Another product changed: the entry may hold it (its id was not selected), so it goes too.
    bus.publish("catalog.stock_changed", encodeJson({ productId: "p1", stock: 3 }));
    await eventually("meta(await run(q))?.hit === false", async () => meta(await run(q))?.hit === false, { timeoutMs: 2000 });
    // With the id selected, only that product's change drops it.
    const withId = `{ product { id name } }`;
    await run(withId);
    bus.publish("catalog.stock_changed", encodeJson({ productId: "p2", stock: 3 }));
    await bus.flush();
    expect(meta(await run(withId))).toEqual({ hit: true });
    cache.stop();
    await bus.close();
  });

  test("product_changed created drops every product list; invalidation events are declared for both subjects", async () => {
    expect(INVALIDATING_EVENTS.map((e) => e.subject).sort()).toEqual(["catalog.product_changed", "catalog.stock_changed"]);
    const { run, bus, cache } = setup();
    await run(`{ product { id name } }`);
    bus.publish("catalog.product_changed", encodeJson({ productId: "new-one", change: "created" }));
    await eventually(
      "meta(await run(`{ product { id name } }`))?.hit === false",
      async () => meta(await run(`{ product { id name } }`))?.hit === false,
      { timeoutMs: 2000 },
    );
    const n = calls;
    await run(`{ product { id name } }`);
    expect(calls).toBe(n);
    cache.stop();
    await bus.close();
  });
});
