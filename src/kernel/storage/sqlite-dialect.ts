import type { Database } from "bun:sqlite";
import { CompiledQuery, type DatabaseConnection, type Dialect, type Driver, type TransactionSettings } from "kysely";
import { BunSqliteDialect } from "kysely-bun-sqlite";

/**
 * The Kysely dialect of a module's SQLite connection: kysely-bun-sqlite, with three changes.
 *
 * - Cached statements: the driver calls `db.prepare(sql)` for every statement, which compiles
 *   it anew; it gets a view of the database whose `prepare` is bun:sqlite's `db.query(sql)`,
 *   which returns the statement compiled for that text before (keyed by the SQL text; Kysely
 *   emits the same text for the same query shape, values are bound parameters).
 * - `BEGIN IMMEDIATE` instead of `BEGIN`: a write transaction takes the write lock at its start,
 *   so a second connection (another process, a test probe) waits on `busy_timeout` instead of
 *   failing when a deferred transaction tries to upgrade its read lock.
 * - Savepoints (`SAVEPOINT`, `ROLLBACK TO`, `RELEASE`), which the driver lacks and group commit needs,
 *   and no ROLLBACK when SQLite already rolled the transaction back.
 *
 * One connection serves the process; the driver queues callers while a transaction holds it.
 *
 * @param db an open connection (see `openSqlite`: pragmas and statement instrumentation).
 */
export function sqliteDialect(db: Database): Dialect {
  const inner = new BunSqliteDialect({ database: cachedStatements(db) });
  return {
    createAdapter: () => inner.createAdapter(),
    createQueryCompiler: () => inner.createQueryCompiler(),
    createIntrospector: (k) => inner.createIntrospector(k),
    createDriver: () => withSavepoints(inner.createDriver(), db),
  };
}

/** `db` with `prepare` answered from bun:sqlite's statement cache (`query`). */
function cachedStatements(db: Database): Database {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => target.query(sql);
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** SQLite identifiers: Kysely passes savepoint names chosen by the caller; quote them. */
const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;

function withSavepoints(driver: Driver, db: Database): Driver {
  const raw = (c: DatabaseConnection, text: string): Promise<void> => c.executeQuery(CompiledQuery.raw(text)).then(() => undefined);
  return {
    init: () => driver.init(),
    acquireConnection: () => driver.acquireConnection(),
    releaseConnection: (c) => driver.releaseConnection(c),
    destroy: () => driver.destroy(),
    beginTransaction: (c: DatabaseConnection, _settings: TransactionSettings) => raw(c, "BEGIN IMMEDIATE"),
    commitTransaction: (c) => raw(c, "COMMIT"),
    // After an error that made SQLite roll the transaction back itself (SQLITE_FULL, IOERR), a
    // ROLLBACK would fail and hide that error; PostgreSQL only warns there.
    rollbackTransaction: async (c) => (db.inTransaction ? raw(c, "ROLLBACK") : undefined),
    savepoint: (c, name) => raw(c, `SAVEPOINT ${ident(name)}`),
    rollbackToSavepoint: (c, name) => raw(c, `ROLLBACK TO ${ident(name)}`),
    releaseSavepoint: (c, name) => raw(c, `RELEASE ${ident(name)}`),
  };
}
