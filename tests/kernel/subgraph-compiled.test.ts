import { describe, expect, test } from "bun:test";
import { buildSchema, execute, parse, GraphQLError, type ExecutionResult } from "graphql";
import { createCompiledExecutor } from "../../src/kernel/subgraph/compiled.ts";
import { AppError } from "../../src/kernel/errors.ts";

const schema = buildSchema(`
  interface Node { id: ID! }
  type Product implements Node { id: ID! name: String! price: Int! }
  type Review implements Node { id: ID! body: String! }
  union Entity = Product | Review
  input Page { first: Int! }
  type Query {
    products(page: Page!): [Product!]!
    node(id: ID!): Node
    entities(ids: [ID!]!): [Entity]!
    failing: String
  }
`);
const products = [
  { __typename: "Product", id: "p1", name: "one", price: 10 },
  { __typename: "Product", id: "p2", name: "two", price: 20 },
];
const reviews = [{ __typename: "Review", id: "r1", body: "good" }];
const all = [...products, ...reviews];
const root = {};
Object.assign(schema.getQueryType()!.getFields()["products"]!, {
  resolve: (_: unknown, a: { page: { first: number } }) => products.slice(0, a.page.first),
});
Object.assign(schema.getQueryType()!.getFields()["node"]!, {
  resolve: (_: unknown, a: { id: string }) => all.find((x) => x.id === a.id) ?? null,
});
Object.assign(schema.getQueryType()!.getFields()["entities"]!, {
  resolve: (_: unknown, a: { ids: string[] }) => a.ids.map((id) => all.find((x) => x.id === id) ?? null),
});
Object.assign(schema.getQueryType()!.getFields()["failing"]!, {
  resolve: () => {
    throw new AppError("OUT_OF_STOCK", "no stock");
  },
});
for (const t of ["Node", "Entity"]) Object.assign(schema.getType(t)!, { resolveType: (v: { __typename: string }) => v.__typename });

const plain = (r: ExecutionResult): unknown => JSON.parse(JSON.stringify(r));

describe("compiled subgraph execution (graphql-jit)", () => {
  const run = createCompiledExecutor(schema, 10);
  const cases: [string, Record<string, unknown>][] = [
    ["query Q($n: Int!) { products(page: { first: $n }) { id name price } }", { n: 1 }],
    ['{ node(id: "r1") { id ... on Review { body } ... on Product { name } } }', {}],
    ['{ entities(ids: ["p2", "x", "r1"]) { __typename ... on Product { id price } ... on Review { body } } }', {}],
  ];
  for (const [query, variables] of cases) {
    test(`same result as graphql-js: ${query.slice(0, 50)}`, async () => {
      const document = parse(query);
      const expected = await execute({ schema, document, variableValues: variables, rootValue: root });
      expect(plain(await run({ document, query, variables, contextValue: {} }))).toEqual(plain(expected));
    });
  }

  test("resolver errors keep their original error (codes are mapped from it) and their path", async () => {
    const query = "{ failing }";
    const r = await run({ document: parse(query), query, contextValue: {} });
    expect(r.data).toEqual({ failing: null });
    const err = r.errors?.[0];
    expect(err).toBeInstanceOf(GraphQLError);
    expect(err?.originalError).toBeInstanceOf(AppError);
    expect(err?.path).toEqual(["failing"]);
  });

  test("variables are coerced and checked as graphql-js does", async () => {
    const query = "query Q($n: Int!) { products(page: { first: $n }) { id } }";
    const r = await run({ document: parse(query), query, variables: { n: "x" }, contextValue: {} });
    expect(r.data).toBeUndefined();
    expect(r.errors?.[0]?.message).toContain("$n");
  });

  test("a document without a single operation to run falls back to graphql-js (same error)", async () => {
    const query = "query A { failing } query B { products(page: { first: 1 }) { id } }";
    const document = parse(query);
    const r = await run({ document, query, contextValue: {} });
    const expected = await execute({ schema, document });
    expect(plain(r)).toEqual(plain(expected));
    expect(r.errors?.[0]?.message).toContain("operation name");
  });

  test("a compiled operation is reused with other variables (nothing of one request leaks into the next)", async () => {
    const run2 = createCompiledExecutor(schema, 10);
    const query = "query Q($n: Int!) { products(page: { first: $n }) { id } }";
    const document = parse(query);
    const ids = async (n: number) =>
      ((await run2({ document, query, variables: { n }, contextValue: {} })).data as { products: { id: string }[] }).products.map(
        (p) => p.id,
      );
    expect(await ids(1)).toEqual(["p1"]);
    expect(await ids(2)).toEqual(["p1", "p2"]);
    expect(await ids(0)).toEqual([]);
  });
});

describe("compiled operations found by document object", () => {
  test("one document with two operations runs each by its name, also after its text left the LRU", async () => {
    const run = createCompiledExecutor(schema, 1);
    const query = 'query A { node(id: "p1") { id } } query B { products(page: { first: 2 }) { id } }';
    const document = parse(query);
    const a = async () => plain(await run({ document, query, operationName: "A", contextValue: {} }));
    const b = async () => plain(await run({ document, query, operationName: "B", contextValue: {} }));
    expect(await a()).toEqual({ data: { node: { id: "p1" } } });
    expect(await b()).toEqual({ data: { products: [{ id: "p1" }, { id: "p2" }] } });
    // Another operation pushes A and B out of the (one-entry) text LRU.
    const other = "{ failing }";
    await run({ document: parse(other), query: other, contextValue: {} });
    expect(await b()).toEqual({ data: { products: [{ id: "p1" }, { id: "p2" }] } });
    expect(await a()).toEqual({ data: { node: { id: "p1" } } });
  });

  test("the same text in a new document object gives the same result", async () => {
    const run = createCompiledExecutor(schema, 10);
    const query = "query Q($n: Int!) { products(page: { first: $n }) { name } }";
    const first = plain(await run({ document: parse(query), query, variables: { n: 1 }, contextValue: {} }));
    const second = plain(await run({ document: parse(query), query, variables: { n: 1 }, contextValue: {} }));
    expect(second).toEqual(first);
    expect(first).toEqual({ data: { products: [{ name: "one" }] } });
  });
});
