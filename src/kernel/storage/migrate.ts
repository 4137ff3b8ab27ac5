import { type Kysely, sql } from "kysely";
import { type ModuleDb, type OpenDatabaseOptions, openDatabase, type SqlDialect } from "./database.ts";
import type { DatabaseConfig } from "../module.ts";
import { MigrationError, scriptFor, type Migration } from "./migrations.ts";

/** The migrations table, as the previous per-dialect runners created it (existing databases keep theirs). */
const MIGRATIONS_TABLE: Record<SqlDialect, string> = {
  sqlite: "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
  postgres:
    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
};

/**
 * PostgreSQL: serialises migrators of one schema, so two instances starting together queue
 * here and the second sees what the first applied. Transaction-scoped: released by COMMIT or
 * ROLLBACK, even when the connection dies. Keyed by schema, so modules sharing a database in
 * their own schemas do not wait for each other. SQLite needs none: `BEGIN IMMEDIATE` takes the
 * database's write lock.
 */
const LOCK = "SELECT pg_advisory_xact_lock(hashtext('switchyard.schema_migrations'), hashtext(coalesce(current_schema(), '')))";

/**
 * Applies pending migrations to a module database (SQLite, or the schema a PostgreSQL
 * connection's `search_path` selects), each in its own transaction together with its row in
 * `schema_migrations(version, name, applied_at)`. Idempotent: a second run applies nothing.
 * Safe when several instances start at once: each transaction takes the lock above (PostgreSQL)
 * or the write lock (SQLite) and re-reads the applied versions, so each version is applied once.
 *
 * @returns the versions this call applied, in order.
 * @throws MigrationError if versions are not strictly increasing, or the database has a
 *   version the code does not know (it was migrated by newer code).
 * @throws the driver's error when a migration fails (its transaction is rolled back; the ones
 *   before it stay applied).
 */
export async function migrate<DB>(mdb: ModuleDb<DB>, migrations: readonly Migration[]): Promise<number[]> {
  for (let i = 1; i < migrations.length; i++) {
    if ((migrations[i] as Migration).version <= (migrations[i - 1] as Migration).version) {
      throw new MigrationError("migration versions must be strictly increasing");
    }
  }
  const known = new Set(migrations.map((m) => m.version));
  const lock = async (trx: Kysely<DB>): Promise<void> => {
    if (mdb.dialect === "postgres") await sql.raw(LOCK).execute(trx);
  };
  /** Applied versions, read under the lock; throws on a version this code does not know. */
  const appliedIn = async (trx: Kysely<DB>): Promise<Set<number>> => {
    const { rows } = await sql<{ version: number }>`SELECT version FROM schema_migrations`.execute(trx);
    const applied = new Set(rows.map((r) => Number(r.version)));
    for (const v of applied) {
      if (!known.has(v)) throw new MigrationError(`database has migration ${v}, unknown to this version of the code`);
    }
    return applied;
  };

  // Under the lock too: concurrent CREATE TABLE IF NOT EXISTS can fail on PostgreSQL's catalog unique index.
  const applied = await mdb.db.transaction().execute(async (trx) => {
    await lock(trx);
    await mdb.exec(trx, MIGRATIONS_TABLE[mdb.dialect]);
    return appliedIn(trx);
  });

  const done: number[] = [];
  for (const m of migrations) {
    if (applied.has(m.version)) continue;
    const ran = await mdb.db.transaction().execute(async (trx) => {
      await lock(trx);
      // Another instance may have applied it while this one waited for the lock.
      if ((await appliedIn(trx)).has(m.version)) return false;
      await mdb.exec(trx, scriptFor(m, mdb.dialect));
      await sql`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${m.version}, ${m.name}, ${new Date().toISOString()})`.execute(
        trx,
      );
      return true;
    });
    if (ran) done.push(m.version);
  }
  return done;
}

/** Options of {@link openMigratedDatabase}. */
export interface OpenMigratedOptions<DB> extends OpenDatabaseOptions {
  /** Runs after the migrations (e.g. per-connection pragmas); the database is closed if it throws. */
  setup?: (mdb: ModuleDb<DB>) => Promise<void>;
}

/**
 * A module store's start: opens its database as configured ({@link openDatabase}), applies its
 * migrations ({@link migrate}) and `opts.setup`.
 *
 * @throws MigrationError when the database was migrated by newer code; the driver's error when it
 *   cannot be opened or a migration fails. The database is closed on failure.
 */
export async function openMigratedDatabase<DB>(
  config: DatabaseConfig,
  migrations: readonly Migration[],
  opts: OpenMigratedOptions<DB> = {},
): Promise<ModuleDb<DB>> {
  const mdb = openDatabase<DB>(config, opts.logger ? { logger: opts.logger } : {});
  try {
    await migrate(mdb, migrations);
    await opts.setup?.(mdb);
  } catch (err) {
    await mdb.close();
    throw err;
  }
  return mdb;
}
