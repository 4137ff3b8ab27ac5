import { join } from "node:path";
import postgres from "postgres";
import type { Config } from "../config.ts";
import type { DatabaseConfig } from "../module.ts";

/**
 * Where module `module` keeps its data, from the config:
 * 1. `<MODULE>_DATABASE_URL` (its own database: `sqlite:<file>` or `postgres://.../<db>`);
 * 2. else `DATABASE_URL`: `postgres://...` shared by all modules, each in its own schema
 *    (named after the module, via the `search_path` connection parameter) so tables and
 *    migration tables never collide; `sqlite:<dir>` gives `<dir>/<module>.sqlite`;
 * 3. else `<DATA_DIR>/<module>.sqlite`.
 */
export function resolveDatabase(config: Config, module: string): DatabaseConfig {
  const own = config.moduleDatabaseUrls[module];
  if (own) return fromUrl(own, config, undefined);
  if (config.databaseUrl) {
    if (config.databaseUrl.startsWith("sqlite:"))
      return { kind: "sqlite", path: join(config.databaseUrl.slice("sqlite:".length), `${module}.sqlite`) };
    return fromUrl(config.databaseUrl, config, module);
  }
  return { kind: "sqlite", path: join(config.dataDir, `${module}.sqlite`) };
}

function fromUrl(url: string, config: Config, schema: string | undefined): DatabaseConfig {
  if (url.startsWith("sqlite:")) return { kind: "sqlite", path: url.slice("sqlite:".length) };
  if (!schema) return { kind: "postgres", url, poolMax: config.dbPoolMax };
  const u = new URL(url);
  u.searchParams.set("search_path", schema);
  return { kind: "postgres", url: u.toString(), poolMax: config.dbPoolMax };
}

/**
 * Creates the per-module schemas a shared PostgreSQL `DATABASE_URL` needs (idempotent), so
 * that each module's migrations run inside its own schema.
 * @throws the driver's error when the database is unreachable.
 */
export async function prepareDatabases(config: Config, modules: readonly string[]): Promise<void> {
  for (const m of modules) {
    const db = resolveDatabase(config, m);
    if (db.kind !== "postgres") continue;
    const schema = new URL(db.url).searchParams.get("search_path");
    if (!schema) continue;
    const u = new URL(db.url);
    u.searchParams.delete("search_path");
    const sql = postgres(u.toString(), { max: 1, onnotice: () => {}, connect_timeout: 10 });
    try {
      await sql.unsafe(`CREATE SCHEMA IF NOT EXISTS "${schema.replace(/"/g, "")}"`);
    } catch (err) {
      // Two processes racing on CREATE SCHEMA IF NOT EXISTS: the loser sees a duplicate; fine.
      const code = (err as { code?: string }).code;
      if (code !== "23505" && code !== "42P06") throw err;
    } finally {
      await sql.end({ timeout: 5 });
    }
  }
}
