import { rmSync } from "node:fs";
import { Writable } from "node:stream";
import { Kernel } from "../../src/kernel/kernel.ts";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { createMemoryRegistry } from "../../src/kernel/registry/memory.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import { MODULES } from "../../src/module-list.ts";
import { createGatewayPart, type GatewayListening } from "../../src/gateway/index.ts";
import { type TestConfig, testConfig } from "../helpers/modules.ts";
import { watchSubscriptions, type WatchedBus } from "../helpers/bus-watch.ts";

/** A GraphQL response as the gateway sends it. */
export interface GqlResponse<T = Record<string, unknown>> {
  status: number;
  data?: T;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
  extensions?: Record<string, unknown>;
  headers: Headers;
}

/**
 * Every module and the gateway in one kernel on the memory bus (the monolith, in process).
 *
 * `request`, `post` and `gql` go to the gateway's hono app without a socket (hono's
 * `app.request()`): for everything that is HTTP semantics only. Tests about the socket itself
 * (WebSocket, streaming over a real connection, the peer address) use `url` with `fetch`.
 */
export interface InProcessGateway {
  /** The GraphQL endpoint on the real listener, e.g. `http://127.0.0.1:41234/graphql`. */
  url: string;
  /** Operations listener (`/metrics`, `/admin/*` with an admin token: helpers/admin.ts). */
  opsUrl: string;
  /** The memory bus of the kernel; counts live subscriptions per subject (a readiness signal). */
  bus: WatchedBus;
  config: TestConfig;
  /**
   * A request to the gateway's hono app in process (no socket; the client address is "unknown").
   * `path` is relative to the gateway, e.g. `/graphql` or `/health/ready`.
   */
  request(path: string, init?: RequestInit): Promise<Response>;
  /** POSTs an operation (JSON body) in process; `body` fields beyond query/variables are sent as they are. */
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

/** How {@link startInProcess}'s `post`/`gql` reach the gateway. */
export interface InProcessOptions {
  /**
   * `"app"` (default): hono's `app.request()`, no socket. `"socket"`: `fetch` on the listener, for
   * suites where the client address matters across HTTP and WebSocket (per-address budgets).
   */
  http?: "app" | "socket";
}

/** Starts the monolith in this process with `overrides` on the test config (seeded catalog). */
export async function startInProcess(overrides: Partial<TestConfig> = {}, opts: InProcessOptions = {}): Promise<InProcessGateway> {
  const config = testConfig({ seed: true, port: 0, logLevel: "info", ...overrides });
  const bus = watchSubscriptions(createMemoryBus());
  const registry = createMemoryRegistry();
  let listening: GatewayListening | undefined;
  // The suites do not read the log; it goes nowhere (as before, when it was parsed for the ports).
  const destination = new Writable({ write: (_chunk, _enc, cb) => cb() });
  const kernel = new Kernel({ bus, registry, config, logger: createLogger({ level: config.logLevel, destination }) });
  for (const register of Object.values(MODULES)) register(kernel);
  // PORT=0 and OPS_PORT=0: the gateway hands back the ports it bound, and its app.
  kernel.addPart(createGatewayPart({ expectedSubgraphs: kernel.moduleNames, onListening: (l) => void (listening = l) }));
  await kernel.start();
  if (!listening) throw new Error("the gateway started without reporting its listeners");
  const { app, url: baseUrl, opsUrl } = listening as GatewayListening;
  const url = `${baseUrl}/graphql`;
  const request = async (path: string, init?: RequestInit): Promise<Response> => app.request(path, init);
  const post = async <T>(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<GqlResponse<T>> => {
    const init = {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    };
    const res = opts.http === "socket" ? await fetch(url, init) : await request("/graphql", init);
    const json = (await res.json()) as Omit<GqlResponse<T>, "status" | "headers">;
    return { ...json, status: res.status, headers: res.headers };
  };
  return {
    url,
    opsUrl,
    bus,
    config,
    request,
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
