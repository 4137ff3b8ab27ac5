import { describe, expect, test } from "bun:test";
import { createSchema, createYoga } from "graphql-yoga";
import { INTROSPECTION_DISABLED, useIntrospectionSwitch } from "../../src/gateway/plugins/introspection.ts";
import type { GatewayContext } from "../../src/gateway/context.ts";

const schema = createSchema<GatewayContext>({
  typeDefs: "type Query { products: [String] }",
  resolvers: { Query: { products: () => ["a"] } },
});
const server = (enabled: boolean) => {
  const yoga = createYoga<GatewayContext>({ schema, plugins: useIntrospectionSwitch(enabled), logging: false });
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
    return {
      status: res.status,
      body: (await res.json()) as { data?: Record<string, unknown>; errors?: { message: string; extensions?: { code?: string } }[] },
    };
  };
};

describe("introspection switch", () => {
  test("on: __schema and __type answer, suggestions are shown", async () => {
    const run = server(true);
    expect((await run("{ __schema { queryType { name } } }")).body.data).toEqual({ __schema: { queryType: { name: "Query" } } });
    expect((await run('{ __type(name: "Query") { name } }')).body.data).toEqual({ __type: { name: "Query" } });
    expect((await run("{ prodcts }")).body.errors?.[0]?.message).toContain('Did you mean "products"?');
  });

  test("off: __schema and __type are refused with INTROSPECTION_DISABLED (400)", async () => {
    const run = server(false);
    for (const q of [
      "{ __schema { queryType { name } } }",
      '{ __type(name: "Query") { name } }',
      "{ products __schema { types { name } } }",
    ]) {
      const r = await run(q);
      expect(r.status).toBe(400);
      expect(r.body.data).toBeUndefined();
      const codes = r.body.errors?.map((e) => e.extensions?.code) ?? [];
      expect(codes.length).toBeGreaterThan(0);
      expect(new Set(codes)).toEqual(new Set(["INTROSPECTION_DISABLED"]));
    }
    expect(INTROSPECTION_DISABLED).toBe("INTROSPECTION_DISABLED");
  });

  test("off: __typename and ordinary queries still work", async () => {
    const r = await server(false)("{ __typename products }");
    expect(r.body).toEqual({ data: { __typename: "Query", products: ["a"] } });
  });

  test("off: validation errors no longer suggest field names", async () => {
    const r = await server(false)("{ prodcts }");
    expect(r.body.errors?.[0]?.message).not.toContain("products");
    expect(r.body.errors?.[0]?.message).toContain("[Suggestion hidden]");
  });
});
