import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { DatabaseConfig } from "../../module.ts";
import { type ModuleDb, openDatabase } from "../database.ts";
import { sharedDatabase } from "../resolve.ts";
import { CopyError } from "./errors.ts";

/** Pool size of a copy's PostgreSQL connections: one snapshot reader or one writer, plus one for checks. */
const POOL_MAX = 2;

/**
 * Module `module`'s database at `where`, as `DATABASE_URL` maps it (see `sharedDatabase`): a
 * `postgres://`/`postgresql://` URL gives the schema named after the module; `sqlite:<dir>` or
 * a plain directory path gives `<dir>/<module>.sqlite` (the monolith's `DATA_DIR` layout).
 * @throws CopyError on an empty or malformed location.
 */
export function moduleDatabase(where: string, module: string): DatabaseConfig {
  if (where.trim() === "") throw new CopyError("empty database location");
  const url = /^postgres(ql)?:\/\//.test(where) || where.startsWith("sqlite:") ? where : `sqlite:${where}`;
  try {
    return sharedDatabase(url, module, POOL_MAX);
  } catch (err) {
    throw new CopyError(`malformed database URL ${redact(where)}: ${(err as Error).message}`);
  }
}

/** `url` without its password, for messages and the progress table (also when `new URL` refuses it, e.g. a bad port). */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url.replace(/^([a-z][\w+.-]*:\/\/[^:/@]*):[^@]*@/i, "$1:***@");
  }
}

/**
 * A stable name of a module database, recorded with the copy's progress (a copy resumes only
 * from the same source) and shown in messages: the absolute SQLite path, or the PostgreSQL URL
 * without password.
 */
export function describeDatabase(db: DatabaseConfig): string {
  return db.kind === "sqlite" ? `sqlite:${resolve(db.path)}` : redact(db.url);
}

/**
 * Opens a database that must already exist: a SQLite file is never created (openDatabase would).
 * PostgreSQL timestamps are read with their microseconds, so they are copied and compared exactly.
 * @throws CopyError when the SQLite file does not exist.
 */
export function openExisting(db: DatabaseConfig, role: string): ModuleDb<unknown> {
  if (db.kind === "sqlite" && !existsSync(db.path)) throw new CopyError(`${role} database ${resolve(db.path)} does not exist`);
  return openDatabase<unknown>(db, { exactTimestamps: true });
}
