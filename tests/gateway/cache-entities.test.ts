/**
 * Which entities a result holds, read from the result with the operation and the schema (the
 * response cache's tags), without any selection added to the document.
 */
import { describe, expect, test } from "bun:test";
import { buildSchema, parse } from "graphql";
import { collectCacheEntities, unknownIdTag } from "../../src/gateway/plugins/cache-entities.ts";

const schema = buildSchema(`
  type Query { products: [Product] node(id: ID!): Node search: [Result] me: Account }
  type Mutation { setStock(id: ID!): Product other: Product }
  interface Node { id: ID! }
  union Result = Product | Category
  type Product implements Node { id: ID! name: String category: Category }
  type Category implements Node { id: ID! name: String }
  type Account implements Node { id: ID! name: String }
`);
const collect = (
  query: string,
  data: Record<string, unknown>,
  opts: Parameters<typeof collectCacheEntities>[5] = {},
  variables: Record<string, unknown> = {},
) => collectCacheEntities(schema, parse(query), undefined, variables, data, opts);
// `Type:id` entities also tag their type in the store (`@envelop/response-cache`'s in-memory cache).
const tags = (r: { entities: { typename: string; id?: string | number }[] }) =>
  r.entities.map((e) => (e.id === undefined ? e.typename : `${e.typename}:${e.id}`)).sort();

describe("collectCacheEntities", () => {
  test("object types by their static type; ids under aliases and fragments; id-less entities tagged", () => {
    const r = collect(`{ products { pid: id ...F } } fragment F on Product { name category { name } }`, {
      products: [{ pid: "p1", name: "A", category: { name: "c" } }],
    });
    expect(tags(r)).toEqual(["Category", unknownIdTag("Category"), "Product:p1"].sort());
  });

  test("abstract positions: the selected __typename decides; otherwise every possible type", () => {
    const known = collect(`{ search { t: __typename ... on Product { id } ... on Category { id } } }`, {
      search: [{ t: "Category", id: "c1" }],
    });
    expect(tags(known)).toEqual(["Category:c1"]);
    const unknown = collect(`{ node(id: "x") { id } }`, { node: { id: "x" } }, { ttls: { Account: 0, Product: 60_000 } });
    expect(tags(unknown)).toEqual(["Account:x", "Category:x", "Product:x"]);
    // The smallest TTL of the possible types: 0, never cached.
    expect(unknown.ttl).toBe(0);
  });

  test("null and empty fields tag their types for queries (a later created entity may belong there)", () => {
    expect(tags(collect(`{ products { id } me { id } }`, { products: [], me: null }))).toEqual(["Account", "Product"]);
  });

  test("@skip / @include follow the variables", () => {
    const r = collect(`query($s: Boolean!) { products { id @skip(if: $s) name } }`, { products: [{ name: "A" }] }, {}, { s: true });
    expect(tags(r)).toEqual(["Product", unknownIdTag("Product")].sort());
  });

  test("mutations (changedOnly): only returned entities; null fields and the root count for nothing", () => {
    expect(
      tags(collect(`mutation { setStock(id: "p1") { id } other { id } }`, { setStock: { id: "p1" }, other: null }, { changedOnly: true })),
    ).toEqual(["Product:p1"]);
    expect(collect(`mutation { setStock(id: "zzz") { id } }`, { setStock: null }, { changedOnly: true }).entities).toEqual([]);
    // No id selected: nothing (not even the whole type: an order's products could empty the cache).
    expect(
      collect(
        `mutation { setStock(id: "p1") { name category { id } } }`,
        { setStock: { name: "A", category: { id: "c1" } } },
        { changedOnly: true },
      ).entities,
    ).toEqual([{ typename: "Category", id: "c1" }]);
  });
});
