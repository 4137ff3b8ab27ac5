import { Kysely, type QueryExecutorProvider, sql } from "kysely";
import { PostgresJSDialect } from "kysely-postgres-js";
import type { Logger } from "../logger.ts";
import type { DatabaseConfig } from "../module.ts";
import { openStorePool } from "./postgres.ts";
import { sqliteDialect } from "./sqlite-dialect.ts";
import { openSqlite } from "./sqlite.ts";

/** The SQL dialect of a module database. */
export type SqlDialect = "sqlite" | "postgres";

/**
 * A Kysely instance or transaction over any module's tables: what the kernel's plain-SQL helpers
 * (outbox, inbox) run their statements on, so a store passes its own `trx` whatever its table types.
 */
export interface SqlExecutor extends QueryExecutorProvider {
  readonly isTransaction: boolean;
}

/**
 * A module's database: one Kysely instance over SQLite (bun:sqlite) or PostgreSQL (postgres.js),
 * so a store is written once. Values read back look the same on both: int8 and counts as
 * numbers, timestamps as ISO-8601 UTC strings, JSON columns as JSON text (stringify on write,
 * parse on read), booleans as whatever was written (SQLite has no booleans: `Boolean(v)` on read).
 *
 * @typeParam DB the module's tables (Kysely's database interface).
 */
export interface ModuleDb<DB> {
  readonly db: Kysely<DB>;
  readonly dialect: SqlDialect;
  /**
   * Runs a script of several statements (migrations) on `executor`'s connection, inside its
   * transaction when it is one. Kysely runs one statement per query; bun:sqlite's `exec` and
   * PostgreSQL's simple protocol run them all.
   */
  exec(executor: Kysely<DB>, script: string): Promise<void>;
  /** Closes the connection (SQLite) or ends the pool, waiting up to 5 s for running queries (PostgreSQL). */
  close(): Promise<void>;
}

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** Receives PostgreSQL notices (debug level). */
  logger?: Logger;
  /** PostgreSQL timestamps read with microseconds (see `OpenPostgresOptions.exactTimestamps`); the data copy's reads. */
  exactTimestamps?: boolean;
}

/**
 * Opens a module's database as configured (`ctx.database`, see `resolveDatabase`) with the
 * settings of `openSqlite` (WAL, pragmas) or `openStorePool` (pool size, timeouts, notices),
 * statement metrics and spans included. Does not migrate (see `migrate`).
 *
 * @throws the driver's error when the SQLite file cannot be opened or the URL is malformed
 *   (PostgreSQL connects lazily: connection errors surface on the first query).
 */
export function openDatabase<DB>(config: DatabaseConfig, opts: OpenDatabaseOptions = {}): ModuleDb<DB> {
  if (config.kind === "sqlite") {
    const conn = openSqlite(config.path);
    const db = new Kysely<DB>({ dialect: sqliteDialect(conn) });
    return {
      db,
      dialect: "sqlite",
      // One connection: a transaction holds it (the script runs inside); otherwise take it
      // first, so the script cannot land inside another caller's open transaction.
      exec: async (executor, script) => {
        if (executor.isTransaction) conn.exec(script);
        else await executor.connection().execute(async () => void conn.exec(script));
      },
      close: () => db.destroy(),
    };
  }
  const pool = openStorePool(config.url, {
    poolMax: config.poolMax,
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.exactTimestamps ? { exactTimestamps: true } : {}),
  });
  const db = new Kysely<DB>({ dialect: new PostgresJSDialect({ postgres: pool }) });
  return {
    db,
    dialect: "postgres",
    // No parameters: postgres.js sends it with the simple protocol, which accepts several statements.
    exec: async (executor, script) => void (await sql.raw(script).execute(executor)),
    close: async () => {
      await pool.end({ timeout: 5 });
      await db.destroy();
    },
  };
}
