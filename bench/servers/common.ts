import { ConfigError, loadConfig, type AppConfig as Config } from "../../src/config.ts";
import { SUBGRAPH_NAMES } from "../fixture/data.ts";

/**
 * Config for a bench process, from the environment like the main binary, with bench defaults:
 * `LOG_LEVEL=warn` (no per-request logging), `RESPONSE_CACHE=false` (every request does the
 * federated work), `RATE_LIMIT_MAX=0` (one client sends all the load), a random `JWT_SECRET`
 * (no token is sent), the fixture subgraph names as the known parts. Exits 2 on an invalid value.
 */
export function benchConfig(env: Record<string, string | undefined> = process.env): Config {
  try {
    const defaults = {
      LOG_LEVEL: "warn",
      NODE_ENV: "production",
      OPS_PORT: "0",
      RESPONSE_CACHE: "false",
      RATE_LIMIT_MAX: "0",
      JWT_SECRET: crypto.randomUUID() + crypto.randomUUID(),
    };
    const r = loadConfig([], { ...defaults, ...env }, { parts: [...SUBGRAPH_NAMES, "gateway"] });
    if (r.help) throw new ConfigError("--help is not supported here");
    return r.config;
  } catch (err) {
    process.stderr.write(`bench: configuration error: ${(err as Error).message}\n`);
    process.exit(2);
  }
}

/** Runs `stop` on SIGINT/SIGTERM, then exits 0. */
export function onShutdown(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (): void => {
    if (stopping) return;
    stopping = true;
    void stop().finally(() => process.exit(0));
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
}
