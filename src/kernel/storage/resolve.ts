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
  if (own) return ownDatabase(own, config);
  if (config.databaseUrl) return sharedDatabase(config.databaseUrl, module, config.dbPoolMax);
  return { kind: "sqlite", path: join(config.dataDir, `${module}.sqlite`) };
}

/** A module's own database (`<MODULE>_DATABASE_URL`): the SQLite file or the PostgreSQL database as given. */
function ownDatabase(url: string, config: Config): DatabaseConfig {
  if (url.startsWith("sqlite:")) return { kind: "sqlite", path: url.slice("sqlite:".length) };
  return { kind: "postgres", url, poolMax: config.dbPoolMax };
}

/**
 * Module `module`'s database in a `DATABASE_URL` shared by all modules: `sqlite:<dir>` gives
 * `<dir>/<module>.sqlite`, `postgres://...` the schema named after the module (`search_path`).
 * What `resolveDatabase` uses, and `switchyard data copy` for its `--from`/`--to`, so both find
 * the same data.
 * @param poolMax max connections of a PostgreSQL pool.
 * @throws TypeError on a malformed PostgreSQL URL.
 */
export function sharedDatabase(url: string, module: string, poolMax: number): DatabaseConfig {
  if (url.startsWith("sqlite:")) return { kind: "sqlite", path: join(url.slice("sqlite:".length), `${module}.sqlite`) };
  const u = new URL(url);
  u.searchParams.set("search_path", module);
  return { kind: "postgres", url: u.toString(), poolMax };
}

/**
 * Creates the per-module schemas a shared PostgreSQL `DATABASE_URL` needs (idempotent), so
 * that each module's migrations run inside its own schema.
 * @throws the driver's error when the database is unreachable.
 */
export async function prepareDatabases(config: Config, modules: readonly string[]): Promise<void> {
  for (const m of modules) await ensureSchema(resolveDatabase(config, m));
}

/**
 * Creates the schema a PostgreSQL module database's `search_path` names, when it has one
 * (idempotent; nothing to do for SQLite or a URL without `search_path`).
 * @throws the driver's error when the database is unreachable.
 */
export async function ensureSchema(db: DatabaseConfig): Promise<void> {
  if (db.kind !== "postgres") return;
  const schema = new URL(db.url).searchParams.get("search_path");
  if (!schema) return;
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
