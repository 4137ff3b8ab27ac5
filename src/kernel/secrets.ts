import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { ConfigError, isDevelopment, type Config } from "./config.ts";

/**
 * Returns the development JWT secret kept in `<dataDir>/jwt-secret`, creating it (48 random
 * bytes, base64url, file mode 0600) on first use, so tokens survive restarts without any
 * configuration (NODE_ENV=development only: see {@link resolveJwtSecret}). Production sets JWT_SECRET instead; every process of a split deployment must
 * share it.
 */
export function devJwtSecret(dataDir: string): { secret: string; created: boolean } {
  const file = join(dataDir, "jwt-secret");
  if (existsSync(file)) return { secret: readFileSync(file, "utf8").trim(), created: false };
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(48).toString("base64url");
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return { secret, created: true };
}

/** Where {@link resolveJwtSecret}'s secret came from. */
export type JwtSecretSource = "configured" | "generated" | "dev-file" | "migrate-only";

/**
 * The JWT secret this process runs with:
 * - `JWT_SECRET` when set;
 * - `--migrate` without it: a throwaway secret (migrations issue no tokens);
 * - NODE_ENV=development on the memory bus: the development secret of {@link devJwtSecret};
 * - otherwise (production, or a split deployment whose processes must share one secret) a
 *   {@link ConfigError} whose message is the one line shown to the operator.
 * @throws ConfigError when no secret may be used.
 */
export function resolveJwtSecret(
  config: Pick<Config, "jwtSecret" | "nodeEnv" | "bus" | "dataDir">,
  opts: { migrateOnly?: boolean } = {},
): { secret: string; source: JwtSecretSource } {
  if (config.jwtSecret) return { secret: config.jwtSecret, source: "configured" };
  if (opts.migrateOnly) return { secret: randomBytes(48).toString("base64url"), source: "migrate-only" };
  if (config.bus.kind !== "memory") throw new ConfigError("JWT_SECRET: must be set when BUS is not memory (every process must share it)");
  if (!isDevelopment(config))
    throw new ConfigError(
      `JWT_SECRET: must be set in production (NODE_ENV=${config.nodeEnv}); a generated secret is used only with NODE_ENV=development`,
    );
  const { secret, created } = devJwtSecret(config.dataDir);
  return { secret, source: created ? "generated" : "dev-file" };
}
