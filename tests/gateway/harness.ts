import { rmSync } from "node:fs";
import { Writable } from "node:stream";
import { Kernel } from "../../src/kernel/kernel.ts";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import type { Bus } from "../../src/kernel/bus/types.ts";
import { createMemoryRegistry } from "../../src/kernel/registry/memory.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import { MODULES } from "../../src/module-list.ts";
import { createGatewayPart } from "../../src/gateway/index.ts";
import { type TestConfig, testConfig } from "../helpers/modules.ts";

/** A GraphQL response as the gateway sends it. */
export interface GqlResponse<T = Record<string, unknown>> {
  status: number;
  data?: T;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
  extensions?: Record<string, unknown>;
  headers: Headers;
}

/** Every module and the gateway in one kernel on the memory bus (the monolith, in process). */
export interface InProcessGateway {
  url: string;
  /** Operations listener (`/metrics`, `/admin/*` with an admin token: helpers/admin.ts). */
  opsUrl: string;
  bus: Bus;
  config: TestConfig;
  /** POSTs an operation (JSON body); `body` fields beyond query/variables are sent as they are. */
  post<T = Record<string, unknown>>(body: Record<string, unknown>, headers?: Record<string, string>): Promise<GqlResponse<T>>;
  /** `post` of `{ query, variables }` with an optional bearer token. */
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    token?: string,
    headers?: Record<string, string>,
  ): Promise<GqlResponse<T>>;
  stop(): Promise<void>;
}

/** Starts the monolith in this process with `overrides` on the test config (seeded catalog). */
export async function startInProcess(overrides: Partial<TestConfig> = {}): Promise<InProcessGateway> {
  const config = testConfig({ seed: true, port: 0, logLevel: "info", ...overrides });
  let port = 0;
  let opsUrl = "";
  // The gateway logs its ports (PORT=0 and OPS_PORT=0 pick free ones).
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n")) {
        if (l.includes("gateway listening")) port = (JSON.parse(l) as { port: number }).port;
        if (l.includes("ops endpoints on")) opsUrl = (JSON.parse(l) as { opsUrl: string }).opsUrl;
      }
      cb();
    },
  });
  const bus = createMemoryBus();
  const registry = createMemoryRegistry();
  const kernel = new Kernel({ bus, registry, config, logger: createLogger({ level: config.logLevel, destination }) });
  for (const register of Object.values(MODULES)) register(kernel);
  kernel.addPart(createGatewayPart({ expectedSubgraphs: kernel.moduleNames }));
  await kernel.start();
  if (!port) throw new Error("gateway port not logged");
  const url = `http://127.0.0.1:${port}/graphql`;
  const post = async <T>(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<GqlResponse<T>> => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Omit<GqlResponse<T>, "status" | "headers">;
    return { ...json, status: res.status, headers: res.headers };
  };
  return {
    url,
    opsUrl,
    bus,
    config,
    post,
    gql: (query, variables = {}, token, headers = {}) =>
      post({ query, variables }, { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) }),
    async stop() {
      await kernel.stop();
      await bus.close();
      await registry.close();
      rmSync(config.dataDir, { recursive: true, force: true });
    },
  };
}
