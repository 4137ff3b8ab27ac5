import { afterAll, describe, expect, test } from "bun:test";
import { Writable } from "node:stream";
import { buildSchema, type ExecutionResult } from "graphql";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { encodeJson } from "../../src/kernel/bus/codec.ts";
import { BusIdentity } from "../../src/kernel/bus-identity.ts";
import { REQUEST_ID_HEADER } from "../../src/kernel/identity.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import type { SubgraphContext } from "../../src/kernel/module.ts";
import { serveSubgraph } from "../../src/kernel/subgraph/server.ts";

// The subgraph server binds request_id to the logger of each request only when that request
// logs (server.ts requestLog): what a resolver or the server logs must still name its request.
const lines: Record<string, unknown>[] = [];
const destination = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const l of chunk.toString("utf8").split("\n")) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
    done();
  },
});
const logger = createLogger({ level: "info", destination });

const schema = buildSchema(`type Query { greet(name: String!): String, broken: String, quiet: String }`);
const fields = schema.getQueryType()!.getFields();
Object.assign(fields["greet"]!, {
  resolve: (_: unknown, a: { name: string }, ctx: SubgraphContext) => {
    ctx.logger.info({ name: a.name }, "greeted");
    return `hello ${a.name}`;
  },
});
Object.assign(fields["broken"]!, {
  resolve: () => {
    throw new Error("disk on fire");
  },
});
Object.assign(fields["quiet"]!, { resolve: () => "shh" });

const bus = createMemoryBus();
const identity = new BusIdentity({ key: "subgraph-log-test-key-0123456789abcdef", ttlMs: 30_000 });
serveSubgraph({ bus, subject: "graphql.logtest", queue: "logtest", schema, logger, identity });
afterAll(() => bus.close());

const ask = async (query: string, requestId: string): Promise<ExecutionResult> =>
  (await bus.request("graphql.logtest", encodeJson({ query }), { headers: { [REQUEST_ID_HEADER]: requestId } })).json<ExecutionResult>();

describe("subgraph server request logger", () => {
  test("a resolver's ctx.logger lines carry the request id of their request", async () => {
    const [a, b] = await Promise.all([ask('{ greet(name: "ann") }', "req-a"), ask('{ greet(name: "bob") }', "req-b")]);
    expect(a.data).toEqual({ greet: "hello ann" });
    expect(b.data).toEqual({ greet: "hello bob" });
    const greeted = lines.filter((l) => l["msg"] === "greeted");
    expect(greeted.map((l) => [l["name"], l["request_id"]]).sort()).toEqual([
      ["ann", "req-a"],
      ["bob", "req-b"],
    ]);
    // Bound once (the child's binding), not once more by the correlation mixin.
    for (const l of greeted) expect(Object.keys(l).filter((k) => k === "request_id")).toHaveLength(1);
  });

  test("an unexpected resolver error is logged with the request id and masked in the result", async () => {
    const r = await ask("{ broken }", "req-c");
    expect(r.errors?.[0]?.message).toBe("internal error (request req-c)");
    const failed = lines.find((l) => l["msg"] === "resolver failed");
    expect(failed?.["request_id"]).toBe("req-c");
  });

  test("a request that logs nothing writes no line", async () => {
    const before = lines.length;
    expect((await ask("{ quiet }", "req-d")).data).toEqual({ quiet: "shh" });
    expect(lines.slice(before).filter((l) => l["request_id"] === "req-d")).toEqual([]);
  });
});
