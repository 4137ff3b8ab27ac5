import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ExecutionResult } from "graphql";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { createMemoryRegistry } from "../../src/kernel/registry/memory.ts";
import { requestJson } from "../../src/kernel/bus/rpc.ts";
import { encodeJson } from "../../src/kernel/bus/codec.ts";
import { Kernel } from "../../src/kernel/kernel.ts";
import type { Config } from "../../src/kernel/config.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import type { Identity } from "../../src/kernel/identity.ts";
import { subgraphSubject, type DatabaseConfig, type ModuleDefinition } from "../../src/kernel/module.ts";
import { prepareDatabases, resolveDatabase } from "../../src/kernel/storage/resolve.ts";
import type { Bus, Headers } from "../../src/kernel/bus/types.ts";
import { freshPostgresDatabase, type DatabaseKind } from "./databases.ts";

/** A kernel running some modules on a memory bus with a temp DATA_DIR, for module tests. */
export interface ModuleHarness {
  kernel: Kernel;
  bus: Bus;
  dataDir: string;
  config: Config;
  /** The database the kernel gave module `name` (SQLite file, or PostgreSQL URL with the module's schema). */
  database(name: string): DatabaseConfig;
  /** PostgreSQL only: the harness's database (pass it as `postgresUrl` to restart on the same data). */
  postgresUrl: string | undefined;
  /** Executes a GraphQL operation directly against one module's subgraph over the bus. */
  query<T = Record<string, unknown>>(
    module: string,
    query: string,
    variables?: Record<string, unknown>,
    identity?: Identity,
  ): Promise<ExecutionResult<T>>;
  /** Calls a bus subject with JSON (throws AppError on error replies). */
  call<T>(subject: string, body: unknown, headers?: Headers): Promise<T>;
  /** Stops the kernel, closes the bus, deletes the temp dir. */
  stop(): Promise<void>;
}

export const TEST_JWT_SECRET = "test-secret-test-secret-test-secret-0123456789";

/** Default config for tests; override any field. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    modules: [],
    port: 0,
    host: "127.0.0.1",
    dataDir: overrides.dataDir ?? mkdtempSync(join(tmpdir(), "switchyard-test-")),
    jwtSecret: TEST_JWT_SECRET,
    jwtTtlS: 3600,
    logLevel: "silent",
    seed: false,
    subgraphTimeoutMs: 5000,
    drainTimeoutMs: 2000,
    subscriptionHeartbeatMs: 5000,
    bus: { kind: "memory" },
    nats: {},
    registry: { kind: "memory" },
    registryTtlS: 10,
    databaseUrl: undefined,
    moduleDatabaseUrls: {},
    dbPoolMax: 5,
    gatewaySubgraphs: undefined,
    busTimeouts: [],
    breakerFailures: 5,
    breakerResetMs: 5000,
    otlpEndpoint: undefined,
    supergraphFile: undefined,
    adminEmail: undefined,
    adminPassword: undefined,
    paymentProviderLatencyMs: 0,
    paymentProviderTimeoutMs: 200,
    orderPaymentTimeoutS: 900,
    outboxPollMs: 100,
    faultInject: undefined,
    nodeEnv: "test",
    // As in production (rust by default); QUERY_PLANNER=js in the test environment runs the in-process gateways on the stitching runtime.
    queryPlanner: process.env["QUERY_PLANNER"] === "js" ? "js" : "rust",
    responseCache: true,
    responseCacheMax: 1000,
    responseCacheTtlMs: 0,
    responseCacheTtls: { Product: 60_000, Category: 300_000, Account: 0, Order: 0 },
    persistedOperations: "apq",
    persistedOperationsFile: undefined,
    apqMax: 1000,
    operationCacheMax: 1000,
    subgraphTimings: true,
    graphiql: true,
    introspection: true,
    maxDepth: 12,
    maxAliases: 30,
    maxTokens: 2000,
    maxDirectives: 50,
    maxCost: 5000,
    maxBodyBytes: 1_048_576,
    corsOrigins: [],
    trustProxy: false,
    // Off: harness tests send bursts from one client; rate limiting has its own tests.
    rateLimitMax: 0,
    rateLimitWindowS: 60,
    // A free port per harness (several run at once); the gateway logs it ("ops endpoints on ...").
    opsPort: 0,
    opsHost: "127.0.0.1",
    // Production defaults except unpaid orders per account: harness tests place many orders from
    // one account; the limit has its own tests (tests/modules/order-limits.test.ts).
    orderMaxLineQuantity: 10,
    orderMaxLines: 50,
    orderMaxPending: 10_000,
    orderMaxTotalCents: 100_000_000,
    orderIntentGraceS: 30,
    // Off like rateLimitMax (bursts from one address); the subscription caps at their defaults.
    rateLimitIpMax: 0,
    rateLimitAuthMax: 0,
    rateLimitAuthFields: ["register", "login", "refreshToken"],
    maxSubscriptionsPerConnection: 20,
    maxSubscriptionsPerAccount: 50,
    maxSubscriptionsPerIp: 200,
    refreshTokenTtlS: 2_592_000,
    sessionCheckTtlMs: 5000,
    sessionCheckMax: 10_000,
    busSigningKey: "test-bus-key-test-bus-key-test-bus-key-0123",
    busIdentityTtlMs: 30_000,
    maxJsonDepth: 64,
    ...overrides,
  };
}

export interface StartOptions {
  /**
   * Store of every module: `"sqlite"` (default: `<dataDir>/<module>.sqlite`) or `"postgres"`:
   * one database per harness on the file's shared server (see `usePostgres()`), each module
   * in its own schema, as with `DATABASE_URL` in production.
   */
  database?: DatabaseKind;
  /** PostgreSQL: reuse this database (from an earlier harness's `postgresUrl`) instead of a fresh one. */
  postgresUrl?: string;
}

/** Starts the given modules in one kernel (dependency order handled by the kernel). */
export async function startModules(
  defs: ModuleDefinition[],
  overrides: Partial<Config> = {},
  opts: StartOptions = {},
): Promise<ModuleHarness> {
  const postgresUrl = opts.database === "postgres" ? (opts.postgresUrl ?? (await freshPostgresDatabase())) : undefined;
  const config = testConfig({ ...overrides, ...(postgresUrl ? { databaseUrl: postgresUrl } : {}) });
  // The production resolution (resolve.ts): PostgreSQL URL + search_path=<module>, or the SQLite file.
  const database = (name: string): DatabaseConfig => resolveDatabase(config, name);
  if (postgresUrl)
    await prepareDatabases(
      config,
      defs.map((d) => d.name),
    );
  const bus = createMemoryBus();
  const registry = createMemoryRegistry();
  const logger = createLogger({ level: config.logLevel, pretty: false });
  const kernel = new Kernel({ bus, registry, config, logger, databaseFor: database });
  for (const d of defs) kernel.addModule(d);
  await kernel.start();
  return {
    kernel,
    bus,
    dataDir: config.dataDir,
    config,
    database,
    postgresUrl,
    async query<T>(module: string, query: string, variables?: Record<string, unknown>, identity?: Identity) {
      // Signed as the gateway signs it (the kernel's bus identity; modules refuse unsigned ones).
      const headers: Headers = kernel.busIdentity.headers(identity, "test");
      const reply = await bus.request(subgraphSubject(module), encodeJson({ query, variables }), { headers, timeoutMs: 5000 });
      return reply.json<ExecutionResult<T>>();
    },
    call: (subject, body, headers) => requestJson(bus, subject, body, headers ? { headers } : {}),
    async stop() {
      await kernel.stop();
      await bus.close();
      await registry.close();
      if (!overrides.dataDir) rmSync(config.dataDir, { recursive: true, force: true });
    },
  };
}
