import { describe, expect, test } from "bun:test";
import { buildSubgraphSchema } from "@apollo/subgraph";
import type { GraphQLResolverMap } from "@apollo/subgraph/dist/schema-helper";
import { createDefaultExecutor } from "@graphql-tools/delegate";
import { getStitchedSchemaFromSupergraphSdl } from "@graphql-tools/federation";
import { parse, type GraphQLSchema } from "graphql";
import { createYoga } from "graphql-yoga";
import type { Identity } from "../../src/kernel/identity.ts";
import type { GatewayContext } from "../../src/gateway/context.ts";
import { composeSupergraph } from "../../src/gateway/federation/compose.ts";
import { satisfiesScopes, selectsProtectedField, useAuthDirectives } from "../../src/gateway/plugins/auth-directives.ts";

/**
 * The plugin on the real federation path: subgraph SDLs importing the Federation v2.5
 * directives → The Guild's composition → @graphql-tools/federation's stitched schema (each
 * subgraph executed in process) → yoga with the plugin. Resolver calls are counted to prove
 * that a rejected field never reaches its subgraph.
 */

const SHOP_SDL = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@authenticated", "@requiresScopes"])
  type Item @key(fields: "id") {
    id: ID!
    name: String!
    "Only for admins or auditors who are also staff."
    cost: Int @requiresScopes(scopes: [["admin"], ["auditor", "staff"]])
  }
  type Query {
    items: [Item!]!
    me: String @authenticated
    secret: String @requiresScopes(scopes: [["admin"]])
  }
  type Mutation {
    createItem(name: String!): Item! @requiresScopes(scopes: [["admin"]])
    ping: String!
  }
`;

const calls: string[] = [];
const items = [
  { id: "1", name: "one", cost: 10 },
  { id: "2", name: "two", cost: 20 },
];
const resolvers = {
  Query: {
    items: () => (calls.push("items"), items),
    me: (_: unknown, __: unknown) => (calls.push("me"), "me!"),
    secret: () => (calls.push("secret"), "42"),
  },
  Mutation: {
    createItem: (_: unknown, { name }: { name: string }) => (calls.push("createItem"), { id: "3", name, cost: 1 }),
    ping: () => (calls.push("ping"), "pong"),
  },
  Item: { cost: (i: { cost: number }) => (calls.push("cost"), i.cost) },
};

const subgraph: GraphQLSchema = buildSubgraphSchema({
  typeDefs: parse(SHOP_SDL),
  resolvers: resolvers as unknown as GraphQLResolverMap<unknown>,
});
const composed = composeSupergraph([{ name: "shop", sdl: SHOP_SDL }]);
if (!composed.ok) throw new Error(JSON.stringify(composed.errors));
const supergraph = getStitchedSchemaFromSupergraphSdl({
  supergraphSdl: composed.supergraphSdl,
  onSubschemaConfig: (cfg) => {
    cfg.executor = createDefaultExecutor(subgraph);
  },
});
const yoga = createYoga<GatewayContext>({ schema: supergraph, plugins: [useAuthDirectives()], logging: false });

interface Result {
  data?: Record<string, unknown> | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: { code?: string } }[];
}

async function run(query: string, identity: Identity | null): Promise<{ status: number; body: Result }> {
  calls.length = 0;
  const res = await yoga.fetch(
    new Request("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query }),
    }),
    { identity, requestId: "test" },
  );
  return { status: res.status, body: (await res.json()) as Result };
}

const customer: Identity = { accountId: "c1", roles: ["customer"] };
const admin: Identity = { accountId: "a1", roles: ["customer", "admin"] };
const codes = (r: Result): (string | undefined)[] => (r.errors ?? []).map((e) => e.extensions?.code);

describe("composition keeps the directives", () => {
  test("the supergraph carries @authenticated and @requiresScopes (authenticated/requiresScopes specs)", () => {
    expect(composed.supergraphSdl).toContain("https://specs.apollo.dev/authenticated/v0.1");
    expect(composed.supergraphSdl).toContain("https://specs.apollo.dev/requiresScopes/v0.1");
    expect(composed.supergraphSdl).toContain('createItem(name: String!): Item! @requiresScopes(scopes: [["admin"]])');
    expect(composed.supergraphSdl).toContain("me: String @authenticated");
  });
});

describe("@authenticated", () => {
  test("no identity: the field is null with UNAUTHENTICATED, other fields resolve, the subgraph never sees it", async () => {
    const { status, body } = await run("{ me items { id name } }", null);
    expect(status).toBe(200);
    expect(body.data).toEqual({
      me: null,
      items: [
        { id: "1", name: "one" },
        { id: "2", name: "two" },
      ],
    });
    expect(codes(body)).toEqual(["UNAUTHENTICATED"]);
    expect(body.errors?.[0]?.path).toEqual(["me"]);
    expect(calls).toEqual(["items"]);
  });

  test("any identity passes", async () => {
    const { body } = await run("{ me }", customer);
    expect(body).toEqual({ data: { me: "me!" } });
  });
});

describe("@requiresScopes (scopes = roles)", () => {
  test("a customer gets FORBIDDEN for an admin field; the rest is intact", async () => {
    const { body } = await run("{ secret items { id } }", customer);
    expect(body.data).toEqual({ secret: null, items: [{ id: "1" }, { id: "2" }] });
    expect(codes(body)).toEqual(["FORBIDDEN"]);
    expect(body.errors?.[0]?.message).toContain("Query.secret requires the role admin");
    expect(calls).toEqual(["items"]);
  });

  test("no identity on a scoped field is UNAUTHENTICATED, not FORBIDDEN", async () => {
    const { body } = await run("{ secret }", null);
    expect(codes(body)).toEqual(["UNAUTHENTICATED"]);
    expect(calls).toEqual([]);
  });

  test("an admin passes", async () => {
    const { body } = await run("{ secret }", admin);
    expect(body).toEqual({ data: { secret: "42" } });
  });

  test("a mutation: only the forbidden root field is null; the other root field runs", async () => {
    const { body } = await run('mutation { createItem(name: "x") { id } ping }', customer);
    expect(body.data).toEqual({ createItem: null, ping: "pong" });
    expect(codes(body)).toEqual(["FORBIDDEN"]);
    expect(calls).toEqual(["ping"]);
  });

  test("a mutation whose only field is forbidden executes nothing", async () => {
    const { body } = await run('mutation { createItem(name: "x") { id } }', customer);
    expect(body.data).toEqual({ createItem: null });
    expect(codes(body)).toEqual(["FORBIDDEN"]);
    expect(calls).toEqual([]);
    const asAdmin = await run('mutation { createItem(name: "x") { id name } }', admin);
    expect(asAdmin.body).toEqual({ data: { createItem: { id: "3", name: "x" } } });
  });

  test("nested field in a list: OR of AND-ed scope sets", async () => {
    const denied = await run("{ items { id cost } }", { accountId: "s", roles: ["staff"] });
    expect(codes(denied.body)).toEqual(["FORBIDDEN"]);
    expect(denied.body.data).toEqual({
      items: [
        { id: "1", cost: null },
        { id: "2", cost: null },
      ],
    });
    expect(calls).toEqual(["items"]);
    const auditor = await run("{ items { id cost } }", { accountId: "s", roles: ["staff", "auditor"] });
    expect(auditor.body).toEqual({
      data: {
        items: [
          { id: "1", cost: 10 },
          { id: "2", cost: 20 },
        ],
      },
    });
  });

  test("fragments and aliases are checked like plain fields", async () => {
    const { body } = await run("query { ...Q } fragment Q on Query { s: secret items { name } }", customer);
    expect(body.data).toEqual({ s: null, items: [{ name: "one" }, { name: "two" }] });
    expect(codes(body)).toEqual(["FORBIDDEN"]);
  });
});

describe("selectsProtectedField (the check is skipped for operations without protected fields)", () => {
  test("true for a protected field anywhere (root, nested, fragment, inline fragment); false otherwise", () => {
    const yes = [
      "{ me }",
      "{ items { id cost } }",
      "query { ...Q } fragment Q on Query { s: secret }",
      "{ items { ... on Item { cost } } }",
      'mutation { createItem(name: "x") { id } }',
    ];
    const no = ["{ items { id name } }", "mutation { ping }", "{ __typename items { __typename id } }"];
    for (const q of yes) expect(selectsProtectedField(supergraph, parse(q))).toBe(true);
    for (const q of no) expect(selectsProtectedField(supergraph, parse(q))).toBe(false);
  });

  test("an operation without protected fields runs unchecked and unchanged, for any caller", async () => {
    expect((await run("{ items { id name } }", null)).body).toEqual({
      data: {
        items: [
          { id: "1", name: "one" },
          { id: "2", name: "two" },
        ],
      },
    });
    // The same document object is asked once (cached per schema and document).
    const doc = parse("{ items { id } }");
    expect(selectsProtectedField(supergraph, doc)).toBe(false);
    expect(selectsProtectedField(supergraph, doc)).toBe(false);
  });
});

describe("satisfiesScopes", () => {
  test("OR of ANDs; an empty requirement is never satisfied", () => {
    expect(satisfiesScopes([["admin"]], ["customer", "admin"])).toBe(true);
    expect(satisfiesScopes([["admin"]], ["customer"])).toBe(false);
    expect(satisfiesScopes([["a", "b"], ["c"]], ["b", "c"])).toBe(true);
    expect(satisfiesScopes([["a", "b"], ["c"]], ["a"])).toBe(false);
    expect(satisfiesScopes([], ["admin"])).toBe(false);
  });
});
