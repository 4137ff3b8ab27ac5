/**
 * Small purpose-built Federation v2 subgraphs (`@apollo/subgraph`) served over HTTP on loopback
 * ports, composed into a supergraph file and served by our gateway (`SUPERGRAPH_FILE`, HTTP
 * subgraph executor): for federation behaviours our own modules do not exercise.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { graphql, parse, type GraphQLSchema } from "graphql";
import { buildSubgraphSchema } from "@apollo/subgraph";
import type { GraphQLResolverMap } from "@apollo/subgraph/dist/schema-helper";
import { composeServices } from "@theguild/federation-composition";
import type { Server } from "bun";
import { Kernel } from "../../src/kernel/kernel.ts";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { createMemoryRegistry } from "../../src/kernel/registry/memory.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import { createGatewayPart, type GatewayListening } from "../../src/gateway/index.ts";
import { type TestConfig, testConfig } from "../helpers/modules.ts";

/** A subgraph to serve: name, federation SDL and resolvers. */
export interface TestSubgraph {
  name: string;
  typeDefs: string;
  resolvers: GraphQLResolverMap<unknown>;
}

/** Subgraphs served over HTTP, with the operations each received. */
export interface ServedSubgraphs {
  /** The composed supergraph SDL (join__graph URLs point at the servers). */
  supergraphSdl: string;
  /** Operation texts each subgraph received, by subgraph name (cleared with `reset`). */
  received: Map<string, string[]>;
  reset(): void;
  /** Stops the server of one subgraph (the others keep answering). */
  stopOne(name: string): void;
  stop(): void;
}

/** Serves `subgraphs` on free loopback ports and composes them. */
export function serveSubgraphs(subgraphs: readonly TestSubgraph[]): ServedSubgraphs {
  const servers: Server<undefined>[] = [];
  const byName = new Map<string, Server<undefined>>();
  const received = new Map<string, string[]>();
  const services = subgraphs.map((s) => {
    const schema: GraphQLSchema = buildSubgraphSchema([{ typeDefs: parse(s.typeDefs), resolvers: s.resolvers }]);
    received.set(s.name, []);
    const server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        const body = (await req.json()) as { query: string; variables?: Record<string, unknown>; operationName?: string };
        received.get(s.name)?.push(body.query);
        const result = await graphql({
          schema,
          source: body.query,
          variableValues: body.variables ?? {},
          operationName: body.operationName ?? null,
        });
        return Response.json(result);
      },
    });
    servers.push(server);
    byName.set(s.name, server);
    return { name: s.name, typeDefs: parse(s.typeDefs), url: `http://127.0.0.1:${server.port}/graphql` };
  });
  const composed = composeServices(services);
  if (composed.errors?.length || !composed.supergraphSdl) {
    for (const s of servers) void s.stop(true);
    throw new Error(`composition failed: ${(composed.errors ?? []).map((e) => e.message).join("; ")}`);
  }
  return {
    supergraphSdl: composed.supergraphSdl,
    received,
    reset: () => {
      for (const list of received.values()) list.length = 0;
    },
    stopOne: (name) => void byName.get(name)?.stop(true),
    stop: () => {
      for (const s of servers) void s.stop(true);
    },
  };
}

/** A GraphQL response of the test gateway. */
export interface Res {
  status: number;
  data?: unknown;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
  extensions?: Record<string, unknown>;
}

/** A gateway (no modules) serving a supergraph file over the HTTP executor. */
export interface FileGateway {
  /** The GraphQL endpoint on the real listener. */
  url: string;
  /** A request to the gateway's hono app in process (no socket), `path` e.g. `/graphql`. */
  request(path: string, init?: RequestInit): Promise<Response>;
  /** Every log line (JSON objects) the gateway's kernel wrote. */
  logs: Record<string, unknown>[];
  query(query: string, variables?: Record<string, unknown>): Promise<Res>;
  stop(): Promise<void>;
}

/** Starts a gateway part alone on `supergraphSdl` (written to a temp file) with `overrides`. */
export async function startFileGateway(supergraphSdl: string, overrides: Partial<TestConfig> = {}): Promise<FileGateway> {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-fed-"));
  const file = join(dir, "supergraph.graphql");
  writeFileSync(file, supergraphSdl);
  const config = testConfig({ dataDir: dir, supergraphFile: file, port: 0, logLevel: "info", ...overrides });
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n")) {
        if (!l.trim()) continue;
        try {
          logs.push(JSON.parse(l) as Record<string, unknown>);
        } catch {
          // not a JSON line
        }
      }
      cb();
    },
  });
  const bus = createMemoryBus();
  const registry = createMemoryRegistry();
  const kernel = new Kernel({ bus, registry, config, logger: createLogger({ level: config.logLevel, destination }) });
  let listening: GatewayListening | undefined;
  kernel.addPart(createGatewayPart({ expectedSubgraphs: [], onListening: (l) => void (listening = l) }));
  await kernel.start();
  if (!listening) throw new Error("the gateway started without reporting its listeners");
  const { app, url: baseUrl } = listening as GatewayListening;
  return {
    url: `${baseUrl}/graphql`,
    logs,
    request: async (path, init) => app.request(path, init),
    async query(query, variables = {}) {
      // In process (hono's app.request): HTTP semantics, no socket.
      const res = await app.request("/graphql", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query, variables }),
      });
      return { status: res.status, ...((await res.json()) as Omit<Res, "status">) };
    },
    async stop() {
      await kernel.stop();
      await bus.close();
      await registry.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
