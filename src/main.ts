import { type AppConfig, ConfigError, helpText, isDevelopment, loadConfig } from "./config.ts";
import type { Config } from "./kernel/config.ts";
import { assertBusSigningKey } from "./kernel/bus-identity.ts";
import { createLogger } from "./kernel/logger.ts";
import { Kernel } from "./kernel/kernel.ts";
import { resolveJwtSecret } from "./kernel/secrets.ts";
import { createTransports } from "./kernel/transports.ts";
import { prepareDatabases, resolveDatabase } from "./kernel/storage/resolve.ts";
import { MODULE_DEFINITIONS, MODULES } from "./module-list.ts";
import { runData } from "./cli/data.ts";
import { createGatewayPart } from "./gateway/index.ts";
import { createProbeApp, startOpsServer, type OpsServer } from "./kernel/ops-http.ts";
import { moduleAdminRoutes } from "./kernel/module-admin.ts";
import { createMemoryBus } from "./kernel/bus/memory.ts";
import { createMemoryRegistry } from "./kernel/registry/memory.ts";
import { initTracing } from "./kernel/tracing.ts";
import { configureBreakers } from "./kernel/policy/index.ts";
import { infrastructureHealth } from "./kernel/health.ts";

/**
 * Entry point of the one binary. `MODULES` chooses what this process runs: `all` (every
 * module and the gateway) or any subset; `BUS`/`REGISTRY`/`DATABASE_URL` choose memory +
 * SQLite (default) or NATS + etcd + PostgreSQL (split mode).
 * Exit codes: 0 clean shutdown, 1 start failure, 2 invalid configuration. `data ...` moves
 * module data between databases (its own exit codes: src/cli/data.ts).
 */
async function main(): Promise<void> {
  // `--probe [url]`: container health check without curl; exit 0 when the URL answers 2xx.
  if (process.argv[2] === "--probe") {
    const url = process.argv[3] ?? `http://127.0.0.1:${process.env["PORT"] ?? "4000"}/health/live`;
    const ok = await fetch(url, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.ok,
      () => false,
    );
    process.exit(ok ? 0 : 1);
  }
  // `data copy|verify ...`: the data move between SQLite and PostgreSQL (src/cli/data.ts).
  if (process.argv[2] === "data") {
    const code = await runData(process.argv.slice(3), MODULE_DEFINITIONS, {
      stdout: process.stdout,
      stderr: process.stderr,
      stderrIsTTY: process.stderr.isTTY === true,
    });
    // exitCode, not exit(): the verification table on a piped stdout is flushed first.
    process.exitCode = code;
    return;
  }
  // `--migrate`: apply every selected module's migrations (and first-start seed) and exit;
  // what Fly's release_command runs before new machines start.
  const migrateOnly = process.argv.includes("--migrate");
  const argv = process.argv.slice(2).filter((a) => a !== "--migrate");
  const moduleNames = Object.keys(MODULES);
  const parts = [...moduleNames, "gateway"];
  let config: AppConfig;
  try {
    const r = loadConfig(argv, process.env, { parts });
    if (r.help) {
      process.stdout.write(helpText({ parts }));
      return;
    }
    config = r.config;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`switchyard: configuration error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }

  const logger = createLogger({ level: config.logLevel });
  // Production unless NODE_ENV=development was asked for (npm start does): see config.ts isDevelopment.
  const mode = isDevelopment(config) ? "development" : "production";
  try {
    const { secret, source } = resolveJwtSecret(config, { migrateOnly });
    config = { ...config, jwtSecret: secret };
    assertBusSigningKey(config, { migrateOnly });
    if (source === "generated" || source === "dev-file") {
      logger.warn(
        { dataDir: config.dataDir },
        source === "generated"
          ? "JWT_SECRET not set: generated a development secret in DATA_DIR"
          : "JWT_SECRET not set: using the development secret from DATA_DIR",
      );
    }
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`switchyard: configuration error: ${err.message}\n`);
    process.exit(2);
  }

  // Tracing first, so every span and log line of the start already has a trace context.
  const tracing = initTracing({
    serviceName: `switchyard-${config.modules.length > 1 ? "all" : config.modules[0]}`,
    otlpEndpoint: config.otlpEndpoint,
  });
  configureBreakers({ failures: config.breakerFailures, resetMs: config.breakerResetMs });
  const local = config.modules.filter((m) => m !== "gateway");
  if (migrateOnly) {
    await migrate(config, local, logger);
    return;
  }
  let transports: Awaited<ReturnType<typeof createTransports>>;
  try {
    transports = await createTransports(config, logger, `switchyard-${config.modules.join("+")}`);
    await prepareDatabases(config, local);
  } catch (err) {
    logger.fatal({ err }, "cannot reach the infrastructure");
    process.exit(1);
  }
  const kernel = new Kernel({ ...transports, config, logger, databaseFor: (m) => resolveDatabase(config, m) });
  for (const name of local) MODULES[name]?.(kernel);
  if (config.modules.includes("gateway")) {
    const expected = config.gatewaySubgraphs ?? (config.registry.kind === "memory" ? local : moduleNames);
    kernel.addPart(createGatewayPart({ expectedSubgraphs: expected }));
  }

  // Module-only processes still answer health probes on PORT (the gateway serves its own), and
  // serve /metrics and /admin/* on the operations listener like a gateway (ops-http.ts).
  let started = false;
  let probes: ReturnType<typeof Bun.serve> | undefined;
  let ops: OpsServer | undefined;
  if (!config.modules.includes("gateway")) {
    probes = Bun.serve({ port: config.port, hostname: config.host, fetch: createProbeApp(() => started, local, logger).fetch });
    logger.info({ port: probes.port }, `health endpoints on http://${config.host}:${probes.port}/health/live`);
    try {
      ops = startOpsServer(config, {
        logger,
        jwtSecret: config.jwtSecret as string,
        health: async () => ({ role: "modules", modules: local, ...(await infrastructureHealth(kernel.bus, kernel.registry)) }),
        // Requests this instance served, by subject: shows how a queue group spreads the load.
        routes: (app) => {
          app.get("/admin/stats", (c) => c.json({ modules: local, handled: Object.fromEntries(kernel.handled) }));
          // Pause/resume of this process's modules for a hand-over (module-admin.ts).
          moduleAdminRoutes(kernel.modulesControl)(app);
        },
      });
    } catch (err) {
      logger.fatal({ err }, "start failed");
      process.exit(1);
    }
  }

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    started = false;
    await kernel.stop();
    await transports.close();
    await probes?.stop(true);
    await ops?.stop();
    await tracing.shutdown();
    logger.info("bye");
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));

  try {
    await kernel.start();
  } catch (err) {
    logger.fatal({ err }, "start failed");
    await transports.close();
    process.exit(1);
  }
  started = true;
  logger.info(
    {
      mode,
      modules: config.modules,
      bus: transports.bus.transport,
      events: transports.events.kind,
      registry: transports.registry.kind,
      ...(ops ? { opsUrl: ops.url } : {}),
    },
    `switchyard started in ${mode} mode${mode === "development" ? " (GraphiQL, introspection, unmasked errors: NODE_ENV=development)" : ""}`,
  );
}

/**
 * Runs each module's start (which migrates its database idempotently and seeds when empty)
 * on a private in-memory bus, then stops it. Exit code 1 when a database is unreachable or a
 * migration fails.
 */
async function migrate(config: Config, modules: readonly string[], logger: ReturnType<typeof createLogger>): Promise<void> {
  const bus = createMemoryBus();
  const kernel = new Kernel({
    bus,
    registry: createMemoryRegistry(),
    config,
    logger,
    databaseFor: (m) => resolveDatabase(config, m),
    migrateOnly: true,
  });
  for (const name of modules) MODULES[name]?.(kernel);
  try {
    await prepareDatabases(config, modules);
    await kernel.start();
    await kernel.stop();
    await bus.close();
    logger.info({ modules }, "migrations applied");
  } catch (err) {
    logger.fatal({ err }, "migration failed");
    process.exit(1);
  }
}

await main();
