import { describe, expect, test } from "bun:test";
import { createSchema, createYoga } from "graphql-yoga";
import { CSRF_HEADERS, CSRF_PREVENTED, useCsrfPrevention } from "../../src/gateway/plugins/csrf.ts";
import type { GatewayContext } from "../../src/gateway/context.ts";

const schema = createSchema<GatewayContext>({ typeDefs: "type Query { hello: String }", resolvers: { Query: { hello: () => "world" } } });
const yoga = createYoga<GatewayContext>({ schema, plugins: [useCsrfPrevention()], logging: false, graphiql: true });
const ctx: GatewayContext = { identity: null, requestId: "r1" };
const send = async (url: string, init: RequestInit = {}) => {
  const res = await yoga.fetch(`http://gw${url}`, init, ctx);
  const text = await res.text();
  return {
    status: res.status,
    text,
    json: () => JSON.parse(text) as { data?: { hello?: string }; errors?: { extensions?: { code?: string } }[] },
  };
};

describe("CSRF prevention", () => {
  test("POST application/json (every GraphQL client) is not affected", async () => {
    const r = await send("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ hello }" }),
    });
    expect(r.status).toBe(200);
    expect(r.json().data?.hello).toBe("world");
  });

  test("GET without a preflight header is refused: 403 CSRF_PREVENTED", async () => {
    const r = await send("/graphql?query=%7Bhello%7D");
    expect(r.status).toBe(403);
    expect(r.json().errors?.[0]?.extensions?.code).toBe(CSRF_PREVENTED);
  });

  test("a form POST (a cross-site <form> could send it) is refused: 403 CSRF_PREVENTED", async () => {
    for (const type of ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"]) {
      const body = type.startsWith("application/x-www")
        ? "query=%7Bhello%7D"
        : type === "text/plain"
          ? '{"query":"{ hello }"}'
          : '--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{"query":"{ hello }"}\r\n--x--\r\n';
      const r = await send("/graphql", { method: "POST", headers: { "content-type": type }, body });
      expect(r.status).toBe(403);
      expect(r.json().errors?.[0]?.extensions?.code).toBe(CSRF_PREVENTED);
    }
  });

  test("GET with any of the preflight headers is served", async () => {
    for (const h of CSRF_HEADERS) {
      const r = await send("/graphql?query=%7Bhello%7D", { headers: { [h]: "1" } });
      expect(r.status).toBe(200);
      expect(r.json().data?.hello).toBe("world");
    }
  });

  test("GraphiQL's page is still served to browsers", async () => {
    const r = await send("/graphql", { headers: { accept: "text/html" } });
    expect(r.status).toBe(200);
    expect(r.text).toContain("GraphiQL");
  });
});
