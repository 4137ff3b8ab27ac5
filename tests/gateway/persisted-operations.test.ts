/**
 * Persisted operations: Automatic Persisted Queries (Apollo's protocol, over POST and GET) with
 * a bounded store, and the allow-list mode with its manifest formats and error codes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSchema, createYoga } from "graphql-yoga";
import type { GatewayContext } from "../../src/gateway/context.ts";
import {
  LruApqStore,
  ManifestError,
  PersistedOperationCode,
  loadPersistedOperationsManifest,
  persistedOperationsFromConfig,
  sha256Hex,
  usePersistedOperationsMode,
} from "../../src/gateway/plugins/persisted-operations.ts";
import type { GatewayPlugin } from "../../src/gateway/plugins/index.ts";
import { startInProcess, type InProcessGateway } from "./harness.ts";

const schema = createSchema<GatewayContext>({
  typeDefs: `type Query { hello(name: String): String! } type Mutation { touch: Int! }`,
  resolvers: { Query: { hello: (_: unknown, a: { name?: string }) => `hello ${a.name ?? "world"}` }, Mutation: { touch: () => 1 } },
});
type Body = { data?: Record<string, unknown>; errors?: { message: string; extensions?: { code?: string } }[] };
const yogaWith = (plugin: GatewayPlugin | undefined) => {
  const yoga = createYoga<GatewayContext>({ schema, plugins: plugin ? [plugin] : [], logging: false });
  const post = async (body: Record<string, unknown>): Promise<{ status: number; body: Body }> => {
    const res = await yoga.fetch(
      "http://x/graphql",
      { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) },
      { identity: null, requestId: "t" },
    );
    return { status: res.status, body: (await res.json()) as Body };
  };
  return { yoga, post };
};
const pq = (hash: string) => ({ persistedQuery: { version: 1, sha256Hash: hash } });
const codes = (b: Body) => (b.errors ?? []).map((e) => e.extensions?.code);

describe("APQ (PERSISTED_OPERATIONS=apq)", () => {
  const query = `query Hi($name: String) { hello(name: $name) }`;
  const hash = sha256Hex(query);

  test("hash miss → PERSISTED_QUERY_NOT_FOUND; query + hash registers; then the hash alone runs it", async () => {
    const { post } = yogaWith(usePersistedOperationsMode({ mode: "apq", apqStore: new LruApqStore(10) }));
    const miss = await post({ extensions: pq(hash), variables: { name: "a" } });
    expect(miss.status).toBe(404);
    expect(codes(miss.body)).toEqual([PersistedOperationCode.NOT_FOUND]);
    expect(miss.body.errors?.[0]?.message).toBe("PersistedQueryNotFound");
    const register = await post({ query, extensions: pq(hash), variables: { name: "a" } });
    expect(register.body).toEqual({ data: { hello: "hello a" } });
    const hit = await post({ extensions: pq(hash), variables: { name: "b" } });
    expect(hit.body).toEqual({ data: { hello: "hello b" } });
    // Plain operations keep working.
    expect((await post({ query: `{ hello }` })).body).toEqual({ data: { hello: "hello world" } });
  });

  test("a wrong hash for the query is PERSISTED_QUERY_MISMATCH and registers nothing", async () => {
    const store = new LruApqStore(10);
    const { post } = yogaWith(usePersistedOperationsMode({ mode: "apq", apqStore: store }));
    const wrong = sha256Hex("something else");
    const r = await post({ query, extensions: pq(wrong) });
    expect(r.status).toBe(400);
    expect(codes(r.body)).toEqual([PersistedOperationCode.MISMATCH]);
    expect(store.size).toBe(0);
  });

  test("the store is an LRU: 500 registrations keep at most max; an evicted hash is a miss again", async () => {
    const store = new LruApqStore(50);
    const { post } = yogaWith(usePersistedOperationsMode({ mode: "apq", apqStore: store }));
    const first = `query Q0 { hello(name: "0") }`;
    for (let i = 0; i < 500; i++) {
      const q = `query Q${i} { hello(name: "${i}") }`;
      const r = await post({ query: q, extensions: pq(sha256Hex(q)) });
      expect(r.body.data).toBeDefined();
    }
    expect(store.size).toBe(50);
    expect(codes((await post({ extensions: pq(sha256Hex(first)) })).body)).toEqual([PersistedOperationCode.NOT_FOUND]);
  });

  test("off: no plugin, a hash-only request is not understood", async () => {
    expect(usePersistedOperationsMode({ mode: "off" })).toBeUndefined();
    expect(persistedOperationsFromConfig({ persistedOperations: "off", persistedOperationsFile: undefined, apqMax: 10 })).toBeUndefined();
  });
});

describe("allow-list (PERSISTED_OPERATIONS=only)", () => {
  let dir: string;
  const listed = `query Listed { hello(name: "listed") }`;
  const listedId = sha256Hex(listed);
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "switchyard-pq-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, content: unknown): string => {
    const p = join(dir, name);
    writeFileSync(p, typeof content === "string" ? content : JSON.stringify(content));
    return p;
  };

  test("loads the { sha256: query } map and Apollo's persisted query manifest", () => {
    const map = loadPersistedOperationsManifest(write("map.json", { [listedId]: listed, "my-build-id-1": `{ hello }` }));
    expect(map.get(listedId)).toBe(listed);
    expect(map.get("my-build-id-1")).toBe(`{ hello }`);
    const apollo = loadPersistedOperationsManifest(
      write("apollo.json", {
        format: "apollo-persisted-query-manifest",
        version: 1,
        operations: [{ id: listedId, body: listed, name: "Listed", type: "query" }],
      }),
    );
    expect([...apollo.entries()]).toEqual([[listedId, listed]]);
  });

  test("rejects unusable manifests with a message naming the problem", () => {
    expect(() => loadPersistedOperationsManifest(join(dir, "missing.json"))).toThrow(ManifestError);
    expect(() => loadPersistedOperationsManifest(write("bad.json", "{not json"))).toThrow(ManifestError);
    expect(() => loadPersistedOperationsManifest(write("list.json", [listed]))).toThrow(/expected/);
    expect(() => loadPersistedOperationsManifest(write("hash.json", { [sha256Hex("other")]: listed }))).toThrow(/not the sha256/);
    expect(() => loadPersistedOperationsManifest(write("syntax.json", { x: "{ hello" }))).toThrow(/does not parse/);
    expect(() => loadPersistedOperationsManifest(write("empty.json", { x: "" }))).toThrow(/non-empty/);
    expect(() => persistedOperationsFromConfig({ persistedOperations: "only", persistedOperationsFile: undefined, apqMax: 10 })).toThrow(
      ManifestError,
    );
  });

  test("a listed hash runs; an unknown hash is NOT_FOUND; any text is PERSISTED_QUERY_ONLY", async () => {
    const plugin = persistedOperationsFromConfig({
      persistedOperations: "only",
      persistedOperationsFile: write("ok.json", { [listedId]: listed }),
      apqMax: 10,
    });
    const { post } = yogaWith(plugin);
    expect((await post({ extensions: pq(listedId) })).body).toEqual({ data: { hello: "hello listed" } });
    const unknown = await post({ extensions: pq(sha256Hex(`{ hello }`)) });
    expect(unknown.status).toBe(404);
    expect(codes(unknown.body)).toEqual([PersistedOperationCode.NOT_FOUND]);
    // An APQ client's registration attempt (text + hash) is refused: nothing is learnt at run time.
    const text = await post({ query: `{ hello }`, extensions: pq(sha256Hex(`{ hello }`)) });
    expect(text.status).toBe(400);
    expect(codes(text.body)).toEqual([PersistedOperationCode.ONLY]);
    expect(codes((await post({ query: listed })).body)).toEqual([PersistedOperationCode.ONLY]);
    expect(codes((await post({})).body)).toEqual([PersistedOperationCode.ONLY]);
    expect(codes((await post({ extensions: pq(sha256Hex(`{ hello }`)) })).body)).toEqual([PersistedOperationCode.NOT_FOUND]);
  });
});

describe("APQ on the gateway (POST and GET)", () => {
  let gw: InProcessGateway;
  beforeAll(async () => {
    gw = await startInProcess();
  }, 60_000);
  afterAll(async () => {
    await gw?.stop();
  }, 60_000);

  test("GET ?extensions=… hash miss, POST registration, GET hash hit", async () => {
    const query = `query Cats { categories { id name } }`;
    const hash = sha256Hex(query);
    const get = async () => {
      const params = new URLSearchParams({ extensions: JSON.stringify(pq(hash)) });
      // CSRF prevention (plugins/csrf.ts) asks GET requests for a preflight-forcing header.
      const res = await gw.request(`/graphql?${params}`, { headers: { accept: "application/json", "apollo-require-preflight": "true" } });
      return { status: res.status, body: (await res.json()) as Body };
    };
    const miss = await get();
    expect(miss.status).toBe(404);
    expect(codes(miss.body)).toEqual([PersistedOperationCode.NOT_FOUND]);
    const reg = await gw.post<{ categories: unknown[] }>({ query, extensions: pq(hash) });
    expect(reg.data?.categories.length).toBeGreaterThan(0);
    const hit = await get();
    expect(hit.status).toBe(200);
    expect((hit.body.data as { categories: unknown[] }).categories).toEqual(reg.data?.categories as unknown[]);
  });
});
