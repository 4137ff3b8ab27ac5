import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DatabaseConfig } from "../../src/kernel/module.ts";
import { openDatabase, type ModuleDb } from "../../src/kernel/storage/database.ts";
import { dbQueryDuration } from "../../src/kernel/metrics.ts";
import { type DatabaseKind, freshPostgresDatabase } from "../helpers/databases.ts";

/** A new empty module database of `kind` (a temp SQLite file, or a fresh PostgreSQL database; call `usePostgres()`). */
export interface FreshDb<DB> {
  config: DatabaseConfig;
  mdb: ModuleDb<DB>;
  /** A second handle on the same database (another instance). */
  another(): ModuleDb<DB>;
  /** The statement-metrics label of this database (file name or database name). */
  label: string;
  /** Closes every handle and removes the SQLite file. */
  close(): Promise<void>;
}

let seq = 0;

export async function freshDb<DB>(kind: DatabaseKind): Promise<FreshDb<DB>> {
  const dir = kind === "sqlite" ? mkdtempSync(join(tmpdir(), "sy-store-")) : undefined;
  const name = `fixture${process.pid}x${++seq}`;
  const config: DatabaseConfig = dir
    ? { kind: "sqlite", path: join(dir, `${name}.sqlite`) }
    : { kind: "postgres", url: await freshPostgresDatabase(), poolMax: 4 };
  const label = dir ? name : decodeURIComponent(new URL((config as { url: string }).url).pathname.slice(1));
  const handles: ModuleDb<DB>[] = [openDatabase<DB>(config)];
  return {
    config,
    mdb: handles[0] as ModuleDb<DB>,
    label,
    another() {
      const h = openDatabase<DB>(config);
      handles.push(h);
      return h;
    },
    async close() {
      await Promise.all(handles.map((h) => h.close()));
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Statements of `kind` (`begin`, `select`, ...) counted by the statement metrics for database `label`. */
export async function statementCount(label: string, kind: string): Promise<number> {
  const m = await dbQueryDuration.get();
  return m.values
    .filter(
      (v) =>
        v.metricName === "switchyard_db_query_duration_seconds_count" && v.labels["module"] === label && v.labels["statement"] === kind,
    )
    .reduce((n, v) => n + v.value, 0);
}
