import { describe, expect, test } from "bun:test";
import { buildSubgraphSchema } from "@apollo/subgraph";
import type { GraphQLResolverMap } from "@apollo/subgraph/dist/schema-helper";
import { graphql, introspectionFromSchema, parse, type GraphQLSchema } from "graphql";
import { printSchemaWithDirectives } from "@graphql-tools/utils";
import { completeSubgraph, moduleDefinitions, prebuiltSubgraphs } from "../../scripts/build.ts";
import { sdlHash } from "../../src/kernel/kernel.ts";
import { fromPrebuilt, subgraphSchema } from "../../src/kernel/subgraph/schema.ts";

// The build-time completion of every module SDL (what scripts/build.ts embeds in the binary).
const prebuilt = await prebuiltSubgraphs();

const PRODUCT_SDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Query { product(id: ID!): Product }
type Product @key(fields: "id") { id: ID! name: String! }`;

const products: Record<string, { id: string; name: string }> = { p1: { id: "p1", name: "Lamp" } };
const resolvers = {
  Query: { product: (_: unknown, { id }: { id: string }) => products[id] ?? null },
  Product: { __resolveReference: (ref: { id: string }) => products[ref.id] ?? null },
} as GraphQLResolverMap<unknown>;

/** What a subgraph answers to `query` (the gateway's questions: SDL, entities, fields). */
async function answer(schema: GraphQLSchema, query: string, variableValues?: Record<string, unknown>): Promise<unknown> {
  return JSON.parse(JSON.stringify(await graphql({ schema, source: query, ...(variableValues ? { variableValues } : {}) })));
}

describe("prebuilt subgraph schemas", () => {
  test("every module SDL is prebuilt, keyed by the hash the kernel registers", async () => {
    const hashes = (await moduleDefinitions()).map((def) => sdlHash(def.typeDefs));
    expect(Object.keys(prebuilt).sort()).toEqual(hashes.sort());
    for (const entry of Object.values(prebuilt)) expect(entry.queryType).toBe("Query");
  });

  test("a prebuilt schema is buildSubgraphSchema's: same printed schema, introspection, _service and _entities answers", async () => {
    // An SDL with resolvers and an entity, completed the way the build does.
    const fast = fromPrebuilt(await completeSubgraph(PRODUCT_SDL), resolvers);
    const slow = buildSubgraphSchema({ typeDefs: parse(PRODUCT_SDL), resolvers });
    expect(printSchemaWithDirectives(fast)).toBe(printSchemaWithDirectives(slow));
    expect(introspectionFromSchema(fast)).toEqual(introspectionFromSchema(slow));
    for (const [query, vars] of [
      ["{ _service { sdl } }", undefined],
      [
        "query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on Product { id name } } }",
        {
          r: [
            { __typename: "Product", id: "p1" },
            { __typename: "Product", id: "nope" },
          ],
        },
      ],
      ['{ product(id: "p1") { id name } }', undefined],
    ] as const) {
      expect(await answer(fast, query, vars)).toEqual(await answer(slow, query, vars));
    }
  });

  test("subgraphSchema uses the entry of the SDL's hash, and buildSubgraphSchema for any other SDL", async () => {
    const entry = await completeSubgraph(PRODUCT_SDL);
    // A marker in the served SDL shows which path built the schema.
    const entries = { [sdlHash(PRODUCT_SDL)]: { ...entry, serviceSdl: `${entry.serviceSdl}\n# prebuilt` } };
    const served = async (schema: GraphQLSchema) =>
      ((await answer(schema, "{ _service { sdl } }")) as { data: { _service: { sdl: string } } }).data._service.sdl;
    expect(await served(await subgraphSchema(sdlHash(PRODUCT_SDL), PRODUCT_SDL, resolvers, entries))).toEndWith("# prebuilt");
    const other = PRODUCT_SDL.replace("name: String!", "name: String");
    expect(await served(await subgraphSchema(sdlHash(other), other, resolvers, entries))).not.toContain("# prebuilt");
    expect(await served(await subgraphSchema(sdlHash(PRODUCT_SDL), PRODUCT_SDL, resolvers, {}))).not.toContain("# prebuilt");
  });
});
