import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { instrumentSqlite, sqliteModuleLabel } from "./instrument.ts";

/**
 * Opens (creating if needed) a SQLite database with the settings every module uses:
 * WAL journal (readers never block the writer), `synchronous=NORMAL` (durable at WAL
 * checkpoints; safe with WAL per https://www.sqlite.org/wal.html), foreign keys on, and a
 * busy timeout so a second connection waits instead of failing with SQLITE_BUSY.
 *
 * @param path file path, or `":memory:"`.
 * @throws the driver's error when the file cannot be opened.
 */
export function openSqlite(path: string): Database {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { create: true, strict: true });
  // busy_timeout first: switching to WAL takes a lock that another process may hold.
  db.exec("PRAGMA busy_timeout = 5000");
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = NORMAL");
  db.exec("PRAGMA foreign_keys = ON");
  // Statement metrics and spans (module label = file name, e.g. catalog.sqlite → catalog).
  return instrumentSqlite(db, sqliteModuleLabel(path));
}

export type { Database };
