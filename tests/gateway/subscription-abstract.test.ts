/**
 * Subscriptions whose selection goes through a union and an interface, end to end through the
 * gateway (GraphQL over SSE at /graphql) on the stitching runtime, with two small test modules on
 * the bus: `feed` streams a union `FeedItem = Note | Alert`; `tags` adds the interface `Titled`
 * (implemented by both members) and `Note.likes`. Selecting `... on Titled` on the union makes
 * `@graphql-tools/delegate` build a document with a nested selection list, which graphql 16.15's
 * printer crashed on (reported as an error instead of events).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { Writable } from "node:stream";
import { Kernel } from "../../src/kernel/kernel.ts";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { createMemoryRegistry } from "../../src/kernel/registry/memory.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import type { ModuleDefinition } from "../../src/kernel/module.ts";
import { createGatewayPart } from "../../src/gateway/index.ts";
import { reference } from "../../src/kernel/graphql/resolvers.ts";
import { testConfig } from "../helpers/modules.ts";

const FED = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])`;
// Abstract types resolve by the `__typename` each value carries (graphql-js's default resolveType).
const ITEMS = [
  { __typename: "Note", id: "n1", title: "hello", text: "world" },
  { __typename: "Alert", id: "a1", title: "fire", level: 3 },
];

const feed: ModuleDefinition = {
  name: "feed",
  version: "0.0.1",
  dependsOn: [],
  typeDefs: `${FED}
type Query { feedItems: [FeedItem] }
type Subscription { feed: FeedItem }
union FeedItem = Note | Alert
type Note @key(fields: "id") { id: ID! title: String @shareable text: String }
type Alert @key(fields: "id") { id: ID! title: String @shareable level: Int }`,
  subjects: [],
  publishes: [],
  consumes: [],
  async start() {
    async function* events() {
      for (const item of ITEMS) {
        await Bun.sleep(10);
        yield item;
      }
    }
    return {
      resolvers: {
        Query: { feedItems: () => ITEMS },
        Subscription: { feed: { subscribe: () => events(), resolve: (x: unknown) => x } },
      },
    };
  },
};

const tags: ModuleDefinition = {
  name: "tags",
  version: "0.0.1",
  dependsOn: [],
  typeDefs: `${FED}
interface Titled { title: String }
type Note implements Titled @key(fields: "id") { id: ID! title: String @shareable likes: Int }
type Alert implements Titled @key(fields: "id") { id: ID! title: String @shareable }`,
  subjects: [],
  publishes: [],
  consumes: [],
  async start() {
    const find = (id: string) => ITEMS.find((i) => i.id === id);
    return {
      resolvers: {
        Note: { __resolveReference: reference(async (r) => ({ id: r.id, title: find(r.id)?.title, likes: 7 })) },
        Alert: { __resolveReference: reference(async (r) => ({ id: r.id, title: find(r.id)?.title })) },
      },
    };
  },
};

/** Events of a GraphQL-over-SSE subscription (until `complete`), as JSON results. */
async function subscribeSse(url: string, query: string): Promise<unknown[]> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", accept: "text/event-stream" }, body: JSON.stringify({ query }), signal: AbortSignal.timeout(10_000) });
  expect(res.status).toBe(200);
  const text = await res.text();
  return text
    .split("\n\n")
    .filter((block) => block.includes("event: next"))
    .map((block) => JSON.parse(block.split("\n").find((l) => l.startsWith("data:"))?.slice(5) ?? "null") as unknown);
}

for (const planner of ["rust", "js"] as const) {
  describe(`subscriptions through unions and interfaces [${planner} planner for queries]`, () => {
    let kernel: Kernel;
    let url: string;
    let dataDir: string;
    const bus = createMemoryBus();
    const registry = createMemoryRegistry();
    beforeAll(async () => {
      const config = testConfig({ port: 0, logLevel: "info", queryPlanner: planner });
      dataDir = config.dataDir;
      let port = 0;
      const destination = new Writable({
        write(chunk: Buffer, _e, cb) {
          for (const l of chunk.toString().split("\n")) if (l.includes("gateway listening")) port = (JSON.parse(l) as { port: number }).port;
          cb();
        },
      });
      kernel = new Kernel({ bus, registry, config, logger: createLogger({ level: "info", destination }) });
      kernel.addModule(feed);
      kernel.addModule(tags);
      kernel.addPart(createGatewayPart({ expectedSubgraphs: ["feed", "tags"] }));
      await kernel.start();
      url = `http://127.0.0.1:${port}/graphql`;
    }, 60_000);
    afterAll(async () => {
      await kernel?.stop();
      await bus.close();
      await registry.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    test("an interface fragment on a union member field streams every event", async () => {
      expect(await subscribeSse(url, `subscription { feed { ... on Titled { title } } }`)).toEqual([{ data: { feed: { title: "hello" } } }, { data: { feed: { title: "fire" } } }]);
    });

    test("union and interface fragments with entity fields of another module", async () => {
      const events = await subscribeSse(url, `subscription { feed { __typename ... on Titled { title } ... on Note { likes } ... on Alert { level } } }`);
      expect(events).toEqual([{ data: { feed: { __typename: "Note", title: "hello", likes: 7 } } }, { data: { feed: { __typename: "Alert", title: "fire", level: 3 } } }]);
    });

    // The Rust planner never prints the stitching runtime's documents: only the js runtime's queries are at stake.
    if (planner === "js") {
      test("the same selection in a query", async () => {
        const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: `{ feedItems { ... on Titled { title } ... on Note { likes } } }` }) });
        expect(await res.json()).toEqual({ data: { feedItems: [{ title: "hello", likes: 7 }, { title: "fire" }] } });
      });
    }
  });
}
