import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import postgres from "postgres";
import type { DatabaseConfig } from "../../module.ts";
import { describeDatabase } from "./endpoint.ts";
import { CopyError } from "./errors.ts";

/** A held copy lock: {@link CopyLock.release} it when the copy's target is closed. */
export interface CopyLock {
  release(): Promise<void>;
}

/**
 * Takes the lock of one module's copy target, so two copies into the same target cannot
 * interleave their batches (each would otherwise fail on the other's primary keys half way,
 * or one would read the other's progress as its own).
 *
 * PostgreSQL: a session advisory lock keyed by the module's schema, held on a connection of
 * its own for the whole copy; the server releases it when that connection ends, so a killed
 * copy never leaves it behind. SQLite: an exclusive transaction on a small lock database
 * `<file>.copy-lock` beside the target (an OS file lock, released when the copier dies).
 *
 * @throws CopyError when another copy into the same target holds the lock; the driver's error
 *   when PostgreSQL is unreachable.
 */
export async function lockCopyTarget(target: DatabaseConfig, module: string): Promise<CopyLock> {
  const busy = (): CopyError => new CopyError(`${module}: another data copy into ${describeDatabase(target)} is running`);
  if (target.kind === "sqlite") return lockFile(`${target.path}.copy-lock`, busy);
  const conn = postgres(target.url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    const [row] = await conn<{ locked: boolean }[]>`
      SELECT pg_try_advisory_lock(hashtext('switchyard.data-copy'), hashtext(coalesce(current_schema(), '') || '.' || ${module})) AS locked`;
    if (!row?.locked) throw busy();
  } catch (err) {
    await conn.end({ timeout: 5 });
    throw err;
  }
  return { release: () => conn.end({ timeout: 5 }) };
}

function lockFile(path: string, busy: () => CopyError): CopyLock {
  mkdirSync(dirname(path), { recursive: true });
  // The OS lock under an exclusive SQLite transaction: atomic, and released by the kernel when
  // the holder dies, so a killed copy never leaves a stale lock behind (no pid files to judge).
  const db = new Database(path, { create: true });
  try {
    db.exec("PRAGMA busy_timeout = 0");
    db.exec("BEGIN EXCLUSIVE");
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code?.startsWith("SQLITE_BUSY")) throw busy();
    throw err;
  }
  return {
    // The file stays (removing it could let a third copier lock a new file while a second
    // holds the unlinked one): an empty database beside the target.
    release: async () => {
      db.exec("ROLLBACK");
      db.close();
    },
  };
}
