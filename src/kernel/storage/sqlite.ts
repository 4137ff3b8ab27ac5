import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { instrumentSqlite, sqliteModuleLabel } from "./instrument.ts";

/**
 * `wal_autocheckpoint` of every connection, in pages (4 KiB: ~40 MB of WAL) instead of
 * SQLite's 1000. A checkpoint runs inside the commit that crosses the limit and fsyncs the WAL
 * and the database file, blocking the event loop meanwhile; createOrder dirties ~10 pages per
 * commit over two databases, so with 1000 a checkpoint ran every ~100 orders per database.
 * Ten times fewer checkpoints: createOrder p50 at 50 connections 5-9 ms lower in the orders
 * benchmark (SQLite); req/s gains (0-8%) were within the noise of a shared machine.
 * The WAL is checkpointed and removed when the last connection closes, as before.
 */
export const WAL_AUTOCHECKPOINT_PAGES = 10_000;

/**
 * Opens (creating if needed) a SQLite database with the settings every module uses:
 * WAL journal (readers never block the writer), `synchronous=NORMAL` (durable at WAL
 * checkpoints; safe with WAL per https://www.sqlite.org/wal.html), foreign keys on, a
 * busy timeout so a second connection waits instead of failing with SQLITE_BUSY, and
 * automatic checkpoints every {@link WAL_AUTOCHECKPOINT_PAGES} WAL pages.
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
  db.exec(`PRAGMA wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
  // Statement metrics and spans (module label = file name, e.g. catalog.sqlite → catalog).
  return instrumentSqlite(db, sqliteModuleLabel(path));
}

export type { Database };
