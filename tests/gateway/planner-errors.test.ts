/**
 * Failures the gateway must name precisely: a document the Rust planner cannot plan answers
 * QUERY_PLAN_FAILED (not HTTP 500) and logs the planner's reason; the HTTP subgraph executor
 * answers SUBGRAPH_UNAVAILABLE only for a subgraph it cannot reach in time, and
 * INTERNAL_SERVER_ERROR (logged, with the request id) for its own errors; the startup log
 * names the planner in use.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Writable } from "node:stream";
import { Kind, parse, type DocumentNode, type ExecutionResult } from "graphql";
import type { ExecutionRequest } from "@graphql-tools/utils";
import { createLogger } from "../../src/kernel/logger.ts";
import { createHttpSubgraphExecutor } from "../../src/gateway/http-executor.ts";
import { freePort } from "../helpers/ports.ts";
import { serveSubgraphs, startFileGateway, type FileGateway, type ServedSubgraphs, type TestSubgraph } from "./federation-harness.ts";

const FED = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])`;
const SUBGRAPHS: TestSubgraph[] = [
  {
    name: "x",
    typeDefs: `${FED} type Query { products: [Product] } type Product @key(fields: "upc") { upc: ID! name: String @shareable }`,
    resolvers: { Query: { products: () => [{ upc: "p1", name: "Table" }] } },
  },
  {
    name: "y",
    typeDefs: `${FED} type Product @key(fields: "upc") @key(fields: "id") { upc: ID! id: ID! name: String @shareable price: Int }`,
    resolvers: {
      Product: {
        __resolveReference: (ref: { upc?: string }) => (ref.upc === "p1" ? { upc: "p1", id: "1", name: "Table", price: 100 } : null),
      },
    },
  },
];

/**
 * The composed supergraph with `y` reachable by `id` only, which `x` does not have: `price`
 * cannot be planned from `products` (a supergraph composition would have refused, e.g. one
 * written by hand or by another tool).
 */
function unwalkable(sdl: string): string {
  const out = sdl
    .replace('@join__type(graph: Y, key: "upc") @join__type(graph: Y, key: "id")', '@join__type(graph: Y, key: "id")')
    .replace("  upc: ID!\n  name: String\n", "  upc: ID! @join__field(graph: X)\n  name: String @join__field(graph: X)\n");
  if (out === sdl || !out.includes("upc: ID! @join__field(graph: X)")) throw new Error("supergraph shape changed; adjust the edit");
  return out;
}

const warnings = (gw: FileGateway, msg: string) => gw.logs.filter((l) => l["msg"] === msg);

describe("a document the planner cannot plan", () => {
  let served: ServedSubgraphs;
  const gateways: FileGateway[] = [];
  beforeAll(async () => {
    served = serveSubgraphs(SUBGRAPHS);
    for (const responseCache of [true, false])
      gateways.push(
        await startFileGateway(unwalkable(served.supergraphSdl), { queryPlanner: "rust", responseCache, nodeEnv: "production" }),
      );
  }, 60_000);
  afterAll(async () => {
    for (const gw of gateways) await gw.stop();
    served?.stop();
  });

  test("answers QUERY_PLAN_FAILED with the request id (cache on and off), logs the planner's reason; plannable documents still work", async () => {
    for (const gw of gateways) {
      const res = await gw.request("/graphql", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/graphql-response+json" },
        body: JSON.stringify({ query: "{ products { upc price } }" }),
      });
      const body = (await res.json()) as { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] };
      expect(res.status).toBeLessThan(500);
      expect(body.errors?.map((e) => e.extensions?.["code"])).toEqual(["QUERY_PLAN_FAILED"]);
      const requestId = body.errors?.[0]?.extensions?.["requestId"];
      expect(requestId).toBe(res.headers.get("x-request-id") as string);
      const logged = warnings(gw, "query planner could not plan the operation");
      expect(logged.length).toBe(1);
      expect(logged[0]?.["request_id"]).toBe(requestId as string);
      expect(String(logged[0]?.["reason"])).toContain("No paths found for selection item: price");
      expect(await gw.query("{ products { upc name } }")).toEqual({ status: 200, data: { products: [{ upc: "p1", name: "Table" }] } });
    }
  });
});

describe("startup log", () => {
  test("names the query planner in use", async () => {
    const served = serveSubgraphs(SUBGRAPHS);
    try {
      for (const planner of ["rust", "js"] as const) {
        const gw = await startFileGateway(served.supergraphSdl, { queryPlanner: planner });
        const line = gw.logs.find((l) => String(l["msg"]).startsWith("gateway listening"));
        expect(line?.["queryPlanner"]).toBe(planner);
        expect(String(line?.["msg"])).toContain(`query planner: ${planner}`);
        await gw.stop();
      }
    } finally {
      served.stop();
    }
  });
});

describe("HTTP subgraph executor: unreachable vs local errors", () => {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: "info",
    destination: new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const l of chunk.toString().split("\n")) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    }),
  });
  const request = (document: DocumentNode): ExecutionRequest =>
    ({ document, variables: {}, context: { requestId: "req-123", identity: null } }) as ExecutionRequest;
  const codes = (r: ExecutionResult) => (r.errors ?? []).map((e) => e.extensions?.["code"]);

  test("a closed port is SUBGRAPH_UNAVAILABLE", async () => {
    const port = await freePort();
    const exec = createHttpSubgraphExecutor(`http://127.0.0.1:${port}/graphql`, "gone", 2000, logger);
    const r = (await exec(request(parse("{ a }")))) as ExecutionResult;
    expect(codes(r)).toEqual(["SUBGRAPH_UNAVAILABLE"]);
    expect(r.errors?.[0]?.extensions?.["subgraph"]).toBe("gone");
  });

  test("a subgraph that does not answer in time is SUBGRAPH_UNAVAILABLE", async () => {
    const silent = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Promise<Response>(() => {}) });
    try {
      const exec = createHttpSubgraphExecutor(`http://127.0.0.1:${silent.port}/graphql`, "slow", 200, logger);
      const r = (await exec(request(parse("{ a }")))) as ExecutionResult;
      expect(codes(r)).toEqual(["SUBGRAPH_UNAVAILABLE"]);
    } finally {
      void silent.stop(true);
    }
  });

  test("an error of the gateway itself (printing the document) is INTERNAL_SERVER_ERROR with the request id, logged with its message", async () => {
    let called = 0;
    const up = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => (called++, Response.json({ data: { a: 1 } })) });
    try {
      const exec = createHttpSubgraphExecutor(`http://127.0.0.1:${up.port}/graphql`, "up", 2000, logger);
      expect((await exec(request(parse("{ a }")))) as ExecutionResult).toEqual({ data: { a: 1 } });
      // An operation without a selection set: graphql-js's printer throws a TypeError on it.
      const broken = {
        kind: Kind.DOCUMENT,
        definitions: [{ kind: Kind.OPERATION_DEFINITION, operation: "query", selectionSet: null }],
      } as unknown as DocumentNode;
      const before = lines.length;
      const r = (await exec(request(broken))) as ExecutionResult;
      expect(codes(r)).toEqual(["INTERNAL_SERVER_ERROR"]);
      expect(r.errors?.[0]?.extensions?.["requestId"]).toBe("req-123");
      expect(r.errors?.[0]?.message).toBe("internal error (request req-123)");
      const logged = lines.slice(before).find((l) => l["msg"] === "gateway error while calling an HTTP subgraph");
      expect(logged?.["request_id"]).toBe("req-123");
      expect(String((logged?.["err"] as { message?: string } | undefined)?.message)).not.toBe("");
      expect((logged?.["err"] as { type?: string } | undefined)?.type).toBe("TypeError");
      expect(called).toBe(1);
    } finally {
      void up.stop(true);
    }
  });

  test("through the gateway: a stopped subgraph answers SUBGRAPH_UNAVAILABLE next to the other subgraph's data", async () => {
    const served = serveSubgraphs(SUBGRAPHS);
    const gw = await startFileGateway(served.supergraphSdl, { queryPlanner: "rust", responseCache: false });
    try {
      expect(await gw.query("{ products { name price } }")).toEqual({ status: 200, data: { products: [{ name: "Table", price: 100 }] } });
      served.stopOne("y");
      const r = await gw.query("{ products { name price } }");
      expect(r.data).toEqual({ products: [{ name: "Table", price: null }] });
      expect(r.errors?.map((e) => e.extensions?.["code"])).toEqual(["SUBGRAPH_UNAVAILABLE"]);
    } finally {
      await gw.stop();
      served.stop();
    }
  });
});
