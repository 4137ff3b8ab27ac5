import { describe, expect, test } from "bun:test";
import { Writable } from "node:stream";
import { GraphQLError } from "graphql";
import { createSchema } from "graphql-yoga";
import { createLogger } from "../../src/kernel/logger.ts";
import { INTERNAL_SERVER_ERROR, isUnexpectedError } from "../../src/gateway/error-masking.ts";
import type { GatewayContext } from "../../src/gateway/context.ts";
import type { GatewayPlugin } from "../../src/gateway/plugins/types.ts";
import { createGatewayYoga } from "../../src/gateway/yoga.ts";
import { createGraphQLWsServer, type WsData } from "../../src/gateway/ws.ts";
import { createClient, type FormattedExecutionResult } from "graphql-ws";

/**
 * The gateway's yoga (yoga.ts) as built for production and development: unexpected errors are
 * masked by yoga's own `maskedErrors` (error-masking.ts), every error carries the request id.
 */

const schema = createSchema<GatewayContext>({
  typeDefs: "type Query { ok: String boom: String coded: String nested: String }",
  resolvers: {
    Query: {
      ok: () => "fine",
      boom: () => {
        throw new Error("connection to 10.1.2.3:5432 refused (password=hunter2)");
      },
      coded: () => {
        throw new GraphQLError("no such product", { extensions: { code: "NOT_FOUND" } });
      },
      nested: () => {
        throw new GraphQLError("wrapped", { originalError: new TypeError("cannot read properties of undefined") });
      },
    },
  },
});

function server(production: boolean, plugins: GatewayPlugin[] = []) {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const logger = createLogger({ level: "info", destination });
  const yoga = createGatewayYoga({ getSchema: () => schema, getPlannedExecutor: () => undefined }, logger, plugins, undefined, {
    production,
    graphiql: false,
  });
  const run = async (query: string, requestId = "req-123") => {
    const res = await yoga.fetch(
      "http://gw/graphql",
      { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }) },
      { identity: null, requestId },
    );
    return (await res.json()) as {
      data?: Record<string, unknown> | null;
      errors?: { message: string; path?: string[]; extensions?: Record<string, unknown> }[];
    };
  };
  return { run, lines, yoga, logger };
}

describe("masked internal errors", () => {
  test("production: an unexpected error's message is replaced; code and requestId kept; the rest of the data intact", async () => {
    const { run, lines } = server(true);
    const r = await run("{ ok boom }", "req-prod-1");
    expect(r.data).toEqual({ ok: "fine", boom: null });
    expect(r.errors).toHaveLength(1);
    const e = r.errors?.[0];
    expect(e?.message).toBe("internal error (request req-prod-1)");
    expect(e?.path).toEqual(["boom"]);
    expect(e?.extensions).toEqual({ code: INTERNAL_SERVER_ERROR, requestId: "req-prod-1" });
    expect(JSON.stringify(r)).not.toContain("hunter2");
    // ...and the full error is in the log, with the same request id, once (yoga does not log it again).
    const logged = lines.filter((l) => l["level"] === 50);
    expect(logged.map((l) => l["msg"])).toEqual(["unexpected error in the gateway"]);
    expect(logged[0]?.["request_id"]).toBe("req-prod-1");
    expect(JSON.stringify(logged[0])).toContain("hunter2");
  });

  test("production: a GraphQL error wrapping a JS error is masked too", async () => {
    const r = await server(true).run("{ nested }");
    expect(r.errors?.[0]?.message).toBe("internal error (request req-123)");
    expect(r.errors?.[0]?.extensions?.["code"]).toBe(INTERNAL_SERVER_ERROR);
  });

  test("development: the original message is shown, still coded and with the requestId", async () => {
    const r = await server(false).run("{ boom }");
    expect(r.errors?.[0]?.message).toContain("connection to 10.1.2.3:5432 refused");
    expect(r.errors?.[0]?.extensions).toEqual({ code: INTERNAL_SERVER_ERROR, requestId: "req-123" });
  });

  test("coded errors pass unchanged (plus requestId), in both environments", async () => {
    for (const production of [true, false]) {
      const r = await server(production).run("{ coded }");
      expect(r.errors?.[0]?.message).toBe("no such product");
      expect(r.errors?.[0]?.extensions).toEqual({ code: "NOT_FOUND", requestId: "req-123" });
    }
  });

  test("request errors (validation) get the requestId as well", async () => {
    const r = await server(true).run("{ nope }", "req-v");
    expect(r.errors?.[0]?.extensions?.["code"]).toBe("GRAPHQL_VALIDATION_FAILED");
    expect(r.errors?.[0]?.extensions?.["requestId"]).toBe("req-v");
  });

  test("a JavaScript error thrown outside execution (a plugin) gets yoga's mask, with the requestId", async () => {
    const throwing: GatewayPlugin = {
      onParams() {
        throw new Error("plugin exploded (secret=s3cr3t)");
      },
    };
    for (const production of [true, false]) {
      const r = await server(production, [throwing]).run("{ ok }", "req-p");
      expect(r.errors?.[0]?.message).toBe("Unexpected error.");
      expect(r.errors?.[0]?.extensions?.["code"]).toBe(INTERNAL_SERVER_ERROR);
      expect(r.errors?.[0]?.extensions?.["requestId"]).toBe("req-p");
      expect(JSON.stringify(r).includes("s3cr3t")).toBe(!production);
    }
  });

  test("over WebSocket too: masked in production with the operation's request id, logged once under it", async () => {
    const { yoga, logger, lines } = server(true);
    const ws = createGraphQLWsServer({ yoga, jwtSecret: "masked-errors-test-secret-masked-errors-test", logger });
    const srv = Bun.serve<WsData>({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (req, s) => ws.upgrade(req, s, "127.0.0.1") ?? new Response("not found", { status: 404 }),
      websocket: ws.websocket,
    });
    const client = createClient({ url: `ws://127.0.0.1:${srv.port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
    try {
      const r = await new Promise<FormattedExecutionResult<Record<string, unknown>, unknown>>((resolve, reject) => {
        let last: FormattedExecutionResult<Record<string, unknown>, unknown> = {};
        client.subscribe({ query: "{ ok boom coded }" }, { next: (x) => void (last = x), error: reject, complete: () => resolve(last) });
      });
      expect(r.data).toEqual({ ok: "fine", boom: null, coded: null });
      const boom = r.errors?.find((e) => e.path?.[0] === "boom");
      const requestId = boom?.extensions?.["requestId"];
      expect(typeof requestId).toBe("string");
      expect(boom?.message).toBe(`internal error (request ${requestId})`);
      expect(boom?.extensions?.["code"]).toBe(INTERNAL_SERVER_ERROR);
      expect(r.errors?.find((e) => e.path?.[0] === "coded")?.extensions?.["code"]).toBe("NOT_FOUND");
      expect(JSON.stringify(r)).not.toContain("hunter2");
      const logged = lines.filter((l) => l["level"] === 50);
      expect(logged.map((l) => l["msg"])).toEqual(["unexpected error in the gateway"]);
      expect(logged[0]?.["request_id"]).toBe(requestId);
    } finally {
      await client.dispose();
      await srv.stop(true);
    }
  });

  test("isUnexpectedError", () => {
    expect(isUnexpectedError(new GraphQLError("x"))).toBe(false);
    expect(isUnexpectedError(new GraphQLError("x", { originalError: new Error("y") }))).toBe(true);
    expect(isUnexpectedError(new GraphQLError("x", { originalError: new Error("y"), extensions: { code: "FORBIDDEN" } }))).toBe(false);
    expect(
      isUnexpectedError(
        new GraphQLError("x", {
          originalError: new GraphQLError("y", { extensions: { code: "NOT_FOUND" }, originalError: new Error("z") }),
        }),
      ),
    ).toBe(false);
  });
});
