import { ConfigError, helpText, loadConfig, type Config } from "./kernel/config.ts";
import { createLogger } from "./kernel/logger.ts";
import { createMemoryBus } from "./kernel/bus/memory.ts";
import { createMemoryRegistry } from "./kernel/registry/memory.ts";
import { Kernel } from "./kernel/kernel.ts";
import { devJwtSecret } from "./kernel/secrets.ts";
import { MODULES } from "./modules/index.ts";
import { gatewayPart } from "./gateway/index.ts";

/**
 * Entry point of the one binary. `MODULES` chooses what this process runs: `all` (every
 * module and the gateway, in-memory bus, embedded SQLite) or any subset.
 * Exit codes: 0 clean shutdown, 1 start failure, 2 invalid configuration.
 */
async function main(): Promise<void> {
  const parts = [...Object.keys(MODULES), "gateway"];
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
    const { secret, created } = devJwtSecret(config.dataDir);
    config = { ...config, jwtSecret: secret };
    logger.warn({ dataDir: config.dataDir }, created ? "JWT_SECRET not set: generated a development secret in DATA_DIR" : "JWT_SECRET not set: using the development secret from DATA_DIR");
  }

  const bus = createMemoryBus({ logger });
  const registry = createMemoryRegistry();
  const kernel = new Kernel({ bus, registry, config, logger });
  for (const name of config.modules) MODULES[name]?.(kernel);
  if (config.modules.includes("gateway")) kernel.addPart(gatewayPart);

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    await kernel.stop();
    await bus.drain();
    await registry.close();
    logger.info("bye");
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));

  try {
    await kernel.start();
  } catch (err) {
    logger.fatal({ err }, "start failed");
    await bus.close();
    process.exit(1);
  }
  logger.info({ modules: config.modules, bus: bus.transport, registry: registry.kind }, "switchyard started");
}

await main();
