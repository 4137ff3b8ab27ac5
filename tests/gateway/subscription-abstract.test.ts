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
import { createGatewayPart } from "../../src/gateway/index.ts";
import { FEED_MODULE, TAGS_MODULE } from "../fixtures/feed-modules.ts";
import { testConfig } from "../helpers/modules.ts";
import { join } from "node:path";
import { spawnServer, type ServerProcess } from "../../scripts/devservers/proc.ts";
import { ROOT, startSplitTopology, type Topology } from "../helpers/topology.ts";

import type { SplitTopology } from "../../scripts/split-topology.ts";
import { parseSse } from "../helpers/sse.ts";
import { eventually } from "../helpers/eventually.ts";

/** Events of a GraphQL-over-SSE subscription (until `complete`), as JSON results. */
async function subscribeSse(url: string, query: string): Promise<unknown[]> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ query }),
    signal: AbortSignal.timeout(10_000),
  });
  expect(res.status).toBe(200);
  const text = await res.text();
  return parseSse(text)
    .filter((e) => e.event === "next")
    .map((e) => JSON.parse(e.data) as unknown);
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
      const destination = new Writable({ write: (_chunk, _e, cb) => cb() });
      kernel = new Kernel({ bus, registry, config, logger: createLogger({ level: "info", destination }) });
      kernel.addModule(FEED_MODULE);
      kernel.addModule(TAGS_MODULE);
      kernel.addPart(createGatewayPart({ expectedSubgraphs: ["feed", "tags"], onListening: (l) => void (url = `${l.url}/graphql`) }));
      await kernel.start();
    }, 60_000);
    afterAll(async () => {
      await kernel?.stop();
      await bus.close();
      await registry.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    test("an interface fragment on a union member field streams every event", async () => {
      expect(await subscribeSse(url, `subscription { feed { ... on Titled { title } } }`)).toEqual([
        { data: { feed: { title: "hello" } } },
        { data: { feed: { title: "fire" } } },
      ]);
    });

    test("union and interface fragments with entity fields of another module", async () => {
      const events = await subscribeSse(
        url,
        `subscription { feed { __typename ... on Titled { title } ... on Note { likes } ... on Alert { level } } }`,
      );
      expect(events).toEqual([
        { data: { feed: { __typename: "Note", title: "hello", likes: 7 } } },
        { data: { feed: { __typename: "Alert", title: "fire", level: 3 } } },
      ]);
    });

    // The Rust planner never prints the stitching runtime's documents: only the js runtime's queries are at stake.
    if (planner === "js") {
      test("the same selection in a query", async () => {
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ query: `{ feedItems { ... on Titled { title } ... on Note { likes } } }` }),
        });
        expect(await res.json()).toEqual({ data: { feedItems: [{ title: "hello", likes: 7 }, { title: "fire" }] } });
      });
    }
  });
}

describe("subscriptions through unions and interfaces [split: gateway, modules and the test modules in their own processes over NATS]", () => {
  let t: Topology & { split: SplitTopology };
  let feed: ServerProcess | undefined;
  beforeAll(async () => {
    t = await startSplitTopology();
    feed = spawnServer([process.execPath, join(ROOT, "tests/fixtures/feed-modules.ts")], {
      env: { ...t.split.sharedEnv, ...t.split.natsEnv("feed-modules") },
    });
    // Served once the aggregator composed a supergraph with both test modules.
    await eventually(
      "a supergraph with the feed and tags modules",
      async () => {
        const res = await fetch(t.graphqlUrl, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ query: "{ feedItems { ... on Note { likes } } }" }),
        });
        const body = (await res.json()) as { data?: { feedItems?: unknown[] } };
        return body.data?.feedItems?.length === 2;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
  }, 240_000);
  afterAll(async () => {
    await feed?.kill();
    await t?.stop();
  }, 60_000);

  test("an interface fragment on a union member field, with entity fields of another process", async () => {
    expect(await subscribeSse(t.graphqlUrl, `subscription { feed { ... on Titled { title } } }`)).toEqual([
      { data: { feed: { title: "hello" } } },
      { data: { feed: { title: "fire" } } },
    ]);
    const events = await subscribeSse(
      t.graphqlUrl,
      `subscription { feed { __typename ... on Titled { title } ... on Note { likes } ... on Alert { level } } }`,
    );
    expect(events).toEqual([
      { data: { feed: { __typename: "Note", title: "hello", likes: 7 } } },
      { data: { feed: { __typename: "Alert", title: "fire", level: 3 } } },
    ]);
  });
});
