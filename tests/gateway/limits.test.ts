import { describe, expect, test } from "bun:test";
import { createSchema, createYoga } from "graphql-yoga";
import { LIMIT_CODES, useOperationLimits, type OperationLimits } from "../../src/gateway/plugins/limits.ts";
import type { GatewayContext } from "../../src/gateway/context.ts";

// A recursive schema, so that any depth is valid GraphQL and only the limits can refuse it.
const schema = createSchema<GatewayContext>({
  typeDefs: /* GraphQL */ `
    type Node { id: ID! name: String child: Node }
    type Query { node: Node }
  `,
  resolvers: { Query: { node: () => ({ id: "1", name: "n", child: null }) } },
});

const DEFAULTS: OperationLimits = { maxDepth: 12, maxAliases: 30, maxTokens: 2000, maxDirectives: 50, maxCost: 5000 };

function server(limits: Partial<OperationLimits> = {}) {
  const yoga = createYoga<GatewayContext>({ schema, plugins: useOperationLimits({ ...DEFAULTS, ...limits }), logging: false });
  return async (query: string) => {
    const res = await yoga.fetch(
      "http://gw/graphql",
      {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/graphql-response+json" },
        body: JSON.stringify({ query }),
      },
      { identity: null, requestId: "r1" },
    );
    const body = (await res.json()) as { data?: unknown; errors?: { message: string; extensions?: { code?: string; limit?: number } }[] };
    return { status: res.status, body, codes: (body.errors ?? []).map((e) => e.extensions?.code) };
  };
}

/** `{ node { child { child ... { id } } } }` with `depth` levels of fields (armor counts the leaf too). */
const deep = (levels: number): string => `{ node { ${"child { ".repeat(levels - 2)}id${" }".repeat(levels - 2)} } }`;
const aliases = (n: number): string => `{ ${Array.from({ length: n }, (_, i) => `a${i}: node { id }`).join(" ")} }`;

describe("operation limits (graphql-armor)", () => {
  test("documented codes", () => {
    expect(LIMIT_CODES).toEqual({
      maxDepth: "QUERY_TOO_DEEP",
      maxAliases: "TOO_MANY_ALIASES",
      maxTokens: "TOO_MANY_TOKENS",
      maxDirectives: "TOO_MANY_DIRECTIVES",
      maxCost: "QUERY_TOO_COMPLEX",
    });
  });

  test("depth: 12 levels pass, 13 and a 20-deep query are QUERY_TOO_DEEP (400, limit in extensions)", async () => {
    const run = server({ maxCost: 0 });
    expect((await run(deep(12))).body.errors).toBeUndefined();
    const r = await run(deep(13));
    expect(r.status).toBe(400);
    expect(r.codes).toEqual(["QUERY_TOO_DEEP"]);
    expect(r.body.errors?.[0]?.extensions?.limit).toBe(12);
    expect(r.body.errors?.[0]?.message).not.toContain("Syntax Error");
    expect((await run(deep(20))).codes).toContain("QUERY_TOO_DEEP");
  });

  test("aliases: 30 pass, 31 are TOO_MANY_ALIASES, __typename aliases count too", async () => {
    const run = server();
    expect((await run(aliases(30))).body.errors).toBeUndefined();
    expect((await run(aliases(31))).codes).toEqual(["TOO_MANY_ALIASES"]);
    expect((await run(`{ ${Array.from({ length: 31 }, (_, i) => `t${i}: __typename`).join(" ")} }`)).codes).toEqual(["TOO_MANY_ALIASES"]);
  });

  test("a 1,000-alias query is refused by the token limit first (parsing), else by the alias limit", async () => {
    const thousand = `{ ${Array.from({ length: 1000 }, (_, i) => `a${i}: __typename`).join(" ")} }`;
    const byTokens = await server()(thousand);
    expect(byTokens.status).toBe(400);
    expect(byTokens.codes).toEqual(["TOO_MANY_TOKENS"]);
    expect((await server({ maxTokens: 0 })(thousand)).codes).toEqual(["TOO_MANY_ALIASES"]);
  });

  test("tokens: a document over MAX_TOKENS is TOO_MANY_TOKENS", async () => {
    const run = server({ maxTokens: 20 });
    expect((await run("{ node { id name } }")).body.errors).toBeUndefined();
    const r = await run(`{ node { ${"name ".repeat(30)} } }`);
    expect(r.codes).toEqual(["TOO_MANY_TOKENS"]);
    expect(r.body.errors?.[0]?.extensions?.limit).toBe(20);
  });

  test("directives: more than MAX_DIRECTIVES is TOO_MANY_DIRECTIVES", async () => {
    const run = server({ maxDirectives: 3 });
    expect((await run("{ node { id @include(if: true) name @skip(if: false) } }")).body.errors).toBeUndefined();
    expect(
      (await run("{ node { id @include(if: true) name @include(if: true) child @skip(if: false) { id @include(if: true) } } }")).codes,
    ).toEqual(["TOO_MANY_DIRECTIVES"]);
  });

  test("cost: an operation over MAX_COST is QUERY_TOO_COMPLEX", async () => {
    const run = server({ maxCost: 50, maxDepth: 0 });
    expect((await run("{ node { id } }")).body.errors).toBeUndefined();
    expect((await run(deep(10))).codes).toEqual(["QUERY_TOO_COMPLEX"]);
  });

  test("every violated validation limit is reported at once", async () => {
    const r = await server({ maxDepth: 3, maxAliases: 1 })(`{ a: node { child { child { id } } } b: node { id } }`);
    expect(r.codes.sort()).toEqual(["QUERY_TOO_DEEP", "TOO_MANY_ALIASES"]);
  });

  test("0 turns a limit off", async () => {
    const run = server({ maxDepth: 0, maxCost: 0 });
    expect((await run(deep(40))).body.errors).toBeUndefined();
  });
});
