import { ConfigError, helpText, loadConfig, type Config } from "./kernel/config.ts";
import { createLogger } from "./kernel/logger.ts";
import { Kernel } from "./kernel/kernel.ts";
import { devJwtSecret } from "./kernel/secrets.ts";
import { createTransports } from "./kernel/transports.ts";
import { prepareDatabases, resolveDatabase } from "./kernel/storage/resolve.ts";
import { MODULES } from "./modules/index.ts";
import { createGatewayPart } from "./gateway/index.ts";

/**
 * Entry point of the one binary. `MODULES` chooses what this process runs: `all` (every
 * module and the gateway) or any subset; `BUS`/`REGISTRY`/`DATABASE_URL` choose memory +
 * SQLite (default) or NATS + etcd + PostgreSQL (split mode).
 * Exit codes: 0 clean shutdown, 1 start failure, 2 invalid configuration.
 */
async function main(): Promise<void> {
  const moduleNames = Object.keys(MODULES);
  const parts = [...moduleNames, "gateway"];
  let config: Config;
  try {
    const r = loadConfig(process.argv.slice(2), process.env, { parts });
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
  if (!config.jwtSecret) {
    if (config.bus.kind !== "memory") {
      process.stderr.write("switchyard: configuration error: JWT_SECRET: must be set when BUS is not memory (every process must share it)\n");
      process.exit(2);
    }
    const { secret, created } = devJwtSecret(config.dataDir);
    config = { ...config, jwtSecret: secret };
    logger.warn({ dataDir: config.dataDir }, created ? "JWT_SECRET not set: generated a development secret in DATA_DIR" : "JWT_SECRET not set: using the development secret from DATA_DIR");
  }

  const local = config.modules.filter((m) => m !== "gateway");
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

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    await kernel.stop();
    await transports.close();
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
  logger.info({ modules: config.modules, bus: transports.bus.transport, events: transports.events.kind, registry: transports.registry.kind }, "switchyard started");
}

await main();
