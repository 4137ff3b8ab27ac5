import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ExecutionResult } from "graphql";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { createMemoryRegistry } from "../../src/kernel/registry/memory.ts";
import { requestJson } from "../../src/kernel/bus/rpc.ts";
import { encodeJson } from "../../src/kernel/bus/codec.ts";
import { Kernel } from "../../src/kernel/kernel.ts";
import { type AppConfig, loadConfig } from "../../src/config.ts";
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
  config: TestConfig;
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

/**
 * What tests run with, where it differs from the production defaults: set as an operator would
 * (variables), parsed by the same option schemas as the binary's; every other option takes its
 * declared default. The process environment is not read (except QUERY_PLANNER, below).
 */
export const TEST_ENV: Readonly<Record<string, string>> = {
  PORT: "0",
  JWT_SECRET: TEST_JWT_SECRET,
  JWT_TTL_S: "3600",
  LOG_LEVEL: "silent",
  SEED: "false",
  SUBGRAPH_TIMEOUT_MS: "5000",
  DRAIN_TIMEOUT_MS: "2000",
  DB_POOL_MAX: "5",
  PAYMENT_PROVIDER_LATENCY_MS: "0",
  PAYMENT_PROVIDER_TIMEOUT_MS: "200",
  ORDER_PAYMENT_TIMEOUT_S: "900",
  OUTBOX_POLL_MS: "100",
  NODE_ENV: "test",
  // As in production (rust by default); QUERY_PLANNER=js in the test environment runs the in-process gateways on the stitching runtime.
  QUERY_PLANNER: process.env["QUERY_PLANNER"] === "js" ? "js" : "rust",
  SUBGRAPH_TIMINGS: "true",
  GRAPHIQL: "true",
  INTROSPECTION: "true",
  // Off: harness tests send bursts from one client; rate limiting has its own tests.
  RATE_LIMIT_MAX: "0",
  RATE_LIMIT_IP_MAX: "0",
  RATE_LIMIT_AUTH_MAX: "0",
  // A free port per harness (several run at once); the gateway logs it ("ops endpoints on ...").
  OPS_PORT: "0",
  // Harness tests place many orders from one account; the limit has its own tests (tests/modules/order-limits.test.ts).
  ORDER_MAX_PENDING: "10000",
  BUS_SIGNING_KEY: "test-bus-key-test-bus-key-test-bus-key-0123",
};

/** The binary's config as tests use it: the kernel's, the gateway's and every module's options. */
export type TestConfig = AppConfig;

/** Config for tests: every declared option ({@link TEST_ENV} over the defaults), no modules, a fresh DATA_DIR; override any field. */
export function testConfig(overrides: Partial<TestConfig> = {}): TestConfig {
  const r = loadConfig([], TEST_ENV);
  if (r.help) throw new Error("unreachable: no --help in an empty argv");
  return {
    ...r.config,
    modules: [],
    dataDir: overrides.dataDir ?? mkdtempSync(join(tmpdir(), "switchyard-test-")),
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
  overrides: Partial<TestConfig> = {},
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
