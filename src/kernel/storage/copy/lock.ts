import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
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
 * copy never leaves it behind. SQLite: a lock file `<file>.copy-lock` holding the copier's pid,
 * created exclusively; a file whose pid no longer runs (a killed copy) is taken over.
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
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return {
        release: async () => {
          try {
            unlinkSync(path);
          } catch {
            // Already gone: nothing to release.
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      if (holderAlive(path)) throw busy();
      // Left by a copy that was killed: take it over.
      try {
        unlinkSync(path);
      } catch {
        // Another copier took it over first; the next attempt sees its file.
      }
    }
  }
  throw busy();
}

/** Whether the pid in a lock file is a running process (signal 0 checks without signalling). */
function holderAlive(path: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(path, "utf8").trim());
  } catch {
    return false;
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
