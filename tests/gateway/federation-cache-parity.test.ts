/**
 * Federation answers never depend on the response cache: small purpose-built subgraphs (shaped
 * like the public Federation v2 gateway compliance cases) served over HTTP and federated by our
 * gateway from a supergraph file. Each query runs on a gateway with the cache on (twice: the
 * second answer comes from the cache) and one with it off, on both planners; every answer must
 * equal the expected one, and the subgraphs must receive the same documents either way (the
 * cache never changes what is planned or fetched).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  serveSubgraphs,
  startFileGateway,
  type FileGateway,
  type Res,
  type ServedSubgraphs,
  type TestSubgraph,
} from "./federation-harness.ts";

const FED = (imports: string[]) =>
  `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: [${imports.map((i) => `"${i}"`).join(", ")}])`;

const DOG = { __typename: "Dog", id: "d1", name: "Fido", age: 4 };
const CAT = { __typename: "Cat", id: "c1", name: "Tom", age: 3 };

/** `@provides` on an interface field: the Dog's name comes with the book from `a`; `c` must never be asked for a Dog. */
const PROVIDES: TestSubgraph[] = [
  {
    name: "a",
    typeDefs: `${FED(["@key", "@shareable", "@external", "@provides"])}
      type Query { book: Book @provides(fields: "animals { ... on Dog { name } }") }
      interface Animal { id: ID! }
      type Book @key(fields: "id") { id: ID! animals: [Animal] @shareable }
      type Dog implements Animal @key(fields: "id") { id: ID! @external name: String @external }
      type Cat implements Animal @key(fields: "id") { id: ID! @external }`,
    resolvers: {
      Query: {
        book: () => ({
          id: "b1",
          animals: [
            { __typename: "Dog", id: DOG.id, name: DOG.name },
            { __typename: "Cat", id: CAT.id },
          ],
        }),
      },
    },
  },
  {
    name: "c",
    typeDefs: `${FED(["@key", "@shareable"])}
      interface Animal { id: ID! name: String }
      type Book @key(fields: "id") { id: ID! animals: [Animal] @shareable }
      type Dog implements Animal @key(fields: "id") { id: ID! name: String @shareable age: Int }
      type Cat implements Animal @key(fields: "id") { id: ID! name: String @shareable age: Int }`,
    resolvers: {
      Book: { __resolveReference: (ref: { id: string }) => ({ id: ref.id, animals: [DOG, CAT] }) },
      Dog: {
        __resolveReference: () => {
          throw new Error("a Dog's name is provided by subgraph a: c must not be asked");
        },
      },
      Cat: { __resolveReference: (ref: { id: string }) => (ref.id === CAT.id ? CAT : null) },
    },
  },
];

/** Entities whose key is null in one subgraph: `b` knows no `id` of book b3 (it resolves it to null). */
const BOOKS = [
  { upc: "u1", id: "1", author: { id: "a1", name: "Alice" } },
  { upc: "u2", id: "2", author: { id: "a2", name: "Bob" } },
  { upc: "u3", id: null, author: null },
];
const NULL_KEYS: TestSubgraph[] = [
  {
    name: "a",
    typeDefs: `${FED(["@key"])}
      type Query { bookContainers: [BookContainer] }
      type BookContainer { book: Book }
      type Book @key(fields: "upc") { upc: ID! }`,
    resolvers: { Query: { bookContainers: () => BOOKS.map((b) => ({ book: { upc: b.upc } })) } },
  },
  {
    name: "b",
    typeDefs: `${FED(["@key"])}
      type Book @key(fields: "id") @key(fields: "upc") { id: ID! upc: ID! }`,
    resolvers: {
      Book: {
        __resolveReference: (ref: { id?: string; upc?: string }) => {
          const b = BOOKS.find((x) => (ref.upc !== undefined ? x.upc === ref.upc : x.id === ref.id));
          return b && b.id !== null ? { id: b.id, upc: b.upc } : null;
        },
      },
    },
  },
  {
    name: "c",
    typeDefs: `${FED(["@key"])}
      type Book @key(fields: "id") { id: ID! author: Author }
      type Author { id: ID! name: String }`,
    resolvers: {
      Book: { __resolveReference: (ref: { id: string }) => ({ id: ref.id, author: BOOKS.find((x) => x.id === ref.id)?.author ?? null }) },
    },
  },
];

/** `@shareable` fields across subgraphs: `name` is served by both; the root subgraph answers it. */
const PRODUCTS = [
  { upc: "p1", id: "1", name: "Table", price: 100 },
  { upc: "p2", id: "2", name: "Chair", price: 40 },
];
const SHAREABLE: TestSubgraph[] = [
  {
    name: "x",
    typeDefs: `${FED(["@key", "@shareable"])}
      type Query { products: [Product] }
      type Product @key(fields: "upc") { upc: ID! name: String @shareable }`,
    resolvers: { Query: { products: () => PRODUCTS.map(({ upc, name }) => ({ upc, name })) } },
  },
  {
    name: "y",
    typeDefs: `${FED(["@key", "@shareable"])}
      type Product @key(fields: "upc") @key(fields: "id") { upc: ID! id: ID! name: String @shareable price: Int }`,
    resolvers: {
      Product: {
        __resolveReference: (ref: { upc?: string; id?: string }) =>
          PRODUCTS.find((p) => (ref.upc !== undefined ? p.upc === ref.upc : p.id === ref.id)) ?? null,
      },
    },
  },
];

/** Abstract types: a union, an interface, and an entity interface extended by `@interfaceObject`. */
const MEDIA = [
  { __typename: "Book", id: "m1", title: "Dune", pages: 412, createdBy: "ann" },
  { __typename: "Movie", id: "m2", title: "Alien", minutes: 117, createdBy: "bo" },
];
const ABSTRACT: TestSubgraph[] = [
  {
    name: "s1",
    typeDefs: `${FED(["@key"])}
      type Query { search: [Result] node(id: ID!): Node }
      union Result = Book | Movie
      interface Node @key(fields: "id") { id: ID! }
      type Book implements Node @key(fields: "id") { id: ID! title: String }
      type Movie implements Node @key(fields: "id") { id: ID! title: String }`,
    resolvers: {
      Query: {
        search: () => MEDIA.map(({ __typename, id, title }) => ({ __typename, id, title })),
        node: (_: unknown, { id }: { id: string }) => {
          const m = MEDIA.find((x) => x.id === id);
          return m ? { __typename: m.__typename, id: m.id, title: m.title } : null;
        },
      },
      Node: {
        __resolveReference: (ref: { id: string }) => {
          const m = MEDIA.find((x) => x.id === ref.id);
          return m ? { __typename: m.__typename, id: m.id, title: m.title } : null;
        },
      },
    },
  },
  {
    name: "s2",
    typeDefs: `${FED(["@key"])}
      type Book @key(fields: "id") { id: ID! pages: Int }
      type Movie @key(fields: "id") { id: ID! minutes: Int }`,
    resolvers: {
      Book: { __resolveReference: (ref: { id: string }) => MEDIA.find((x) => x.id === ref.id && x.__typename === "Book") ?? null },
      Movie: { __resolveReference: (ref: { id: string }) => MEDIA.find((x) => x.id === ref.id && x.__typename === "Movie") ?? null },
    },
  },
  {
    name: "s3",
    typeDefs: `${FED(["@key", "@interfaceObject"])}
      type Node @key(fields: "id") @interfaceObject { id: ID! createdBy: String }`,
    resolvers: {
      Node: {
        __resolveReference: (ref: { id: string }) => ({ id: ref.id, createdBy: MEDIA.find((x) => x.id === ref.id)?.createdBy ?? null }),
      },
    },
  },
];

interface Case {
  name: string;
  query: string;
  expected: { data: unknown };
  /**
   * Only on the Rust planner: the stitching runtime (QUERY_PLANNER=js) answers `@interfaceObject`
   * fields with null, with or without the cache.
   */
  rustOnly?: true;
}

const SUITES: { name: string; subgraphs: TestSubgraph[]; cases: Case[] }[] = [
  {
    name: "@provides on interface fields",
    subgraphs: PROVIDES,
    cases: [
      {
        name: "provided field only",
        query: `{ book { animals { ... on Dog { name } } } }`,
        expected: { data: { book: { animals: [{ name: "Fido" }, {}] } } },
      },
      {
        name: "provided and fetched fields",
        query: `{ book { id animals { __typename ... on Dog { name } ... on Cat { name age } } } }`,
        expected: {
          data: {
            book: {
              id: "b1",
              animals: [
                { __typename: "Dog", name: "Fido" },
                { __typename: "Cat", name: "Tom", age: 3 },
              ],
            },
          },
        },
      },
    ],
  },
  {
    name: "entities whose key fields are null",
    subgraphs: NULL_KEYS,
    cases: [
      {
        name: "key of the root subgraph only",
        query: `{ bookContainers { book { upc } } }`,
        expected: { data: { bookContainers: [{ book: { upc: "u1" } }, { book: { upc: "u2" } }, { book: { upc: "u3" } }] } },
      },
      {
        name: "through the null key",
        query: `{ bookContainers { book { upc author { name } } } }`,
        expected: {
          data: {
            bookContainers: [
              { book: { upc: "u1", author: { name: "Alice" } } },
              { book: { upc: "u2", author: { name: "Bob" } } },
              { book: { upc: "u3", author: null } },
            ],
          },
        },
      },
    ],
  },
  {
    name: "@shareable fields across subgraphs",
    subgraphs: SHAREABLE,
    cases: [
      {
        name: "shareable field from the root subgraph",
        query: `{ products { upc name } }`,
        expected: {
          data: {
            products: [
              { upc: "p1", name: "Table" },
              { upc: "p2", name: "Chair" },
            ],
          },
        },
      },
      {
        name: "with a field of the other subgraph",
        query: `{ products { name price } }`,
        expected: {
          data: {
            products: [
              { name: "Table", price: 100 },
              { name: "Chair", price: 40 },
            ],
          },
        },
      },
    ],
  },
  {
    name: "abstract types (union, interface, entity interface)",
    subgraphs: ABSTRACT,
    cases: [
      {
        name: "union with fragments across subgraphs",
        query: `{ search { ... on Book { title pages } ... on Movie { title minutes } } }`,
        expected: {
          data: {
            search: [
              { title: "Dune", pages: 412 },
              { title: "Alien", minutes: 117 },
            ],
          },
        },
      },
      {
        name: "node-style interface field",
        query: `{ node(id: "m2") { ... on Movie { id title minutes __typename } } }`,
        expected: { data: { node: { id: "m2", title: "Alien", minutes: 117, __typename: "Movie" } } },
      },
      {
        name: "entity interface field from an @interfaceObject subgraph",
        query: `{ node(id: "m1") { createdBy ... on Book { pages } } }`,
        expected: { data: { node: { createdBy: "ann", pages: 412 } } },
        rustOnly: true,
      },
      {
        name: "union member fields from the @interfaceObject subgraph",
        query: `{ search { ... on Node { createdBy } } }`,
        expected: { data: { search: [{ createdBy: "ann" }, { createdBy: "bo" }] } },
        rustOnly: true,
      },
    ],
  },
];

/** What a client sees, without gateway metadata (`extensions`). */
const body = (r: Res) => ({
  status: r.status,
  ...(r.data !== undefined ? { data: r.data } : {}),
  ...(r.errors ? { errors: r.errors } : {}),
});

for (const planner of ["rust", "js"] as const) {
  for (const suite of SUITES) {
    describe(`federation with and without the response cache [${planner}]: ${suite.name}`, () => {
      let served: ServedSubgraphs;
      let cached: FileGateway;
      let uncached: FileGateway;
      beforeAll(async () => {
        served = serveSubgraphs(suite.subgraphs);
        // Every type cacheable (default TTL 60 s), metadata shown (development).
        const common = { queryPlanner: planner, nodeEnv: "development", responseCacheTtlMs: 60_000 } as const;
        cached = await startFileGateway(served.supergraphSdl, { ...common, responseCache: true });
        uncached = await startFileGateway(served.supergraphSdl, { ...common, responseCache: false });
      }, 60_000);
      afterAll(async () => {
        await cached?.stop();
        await uncached?.stop();
        served?.stop();
      });

      for (const c of suite.cases.filter((x) => planner === "rust" || !x.rustOnly)) {
        test(c.name, async () => {
          served.reset();
          const off = await uncached.query(c.query);
          const sentOff = new Map([...served.received].map(([k, v]) => [k, [...v]]));
          served.reset();
          const on = await cached.query(c.query);
          const sentOn = new Map([...served.received].map(([k, v]) => [k, [...v]]));
          const again = await cached.query(c.query);
          expect(body(off)).toEqual({ status: 200, ...c.expected });
          expect(body(on)).toEqual({ status: 200, ...c.expected });
          expect(body(again)).toEqual({ status: 200, ...c.expected });
          // The second answer came from the cache; the first fetched exactly what the uncached gateway fetched.
          expect(again.extensions?.["responseCache"]).toEqual({ hit: true });
          expect(sentOn).toEqual(sentOff);
        });
      }
    });
  }
}
