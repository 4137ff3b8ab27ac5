import { sql } from "kysely";
import type { AnyDb } from "./introspect.ts";
import { PROGRESS_TABLE } from "./plan.ts";

/**
 * The copy's progress table in the target database, created by the copy (not by module
 * migrations; the copy never counts it as module data). One row per copied table, written in
 * the same transaction as each batch, so after a crash the target holds exactly the rows up to
 * `last_key` and a rerun goes on after it. Same DDL on both dialects (SQLite reads `bigint` as
 * INTEGER affinity); `done` is 0/1, `updated_at` ISO-8601 text.
 */
const DDL = `CREATE TABLE IF NOT EXISTS ${PROGRESS_TABLE} (
  module text NOT NULL,
  table_name text NOT NULL,
  source text NOT NULL,
  last_key text,
  rows bigint NOT NULL DEFAULT 0,
  done integer NOT NULL DEFAULT 0,
  updated_at text NOT NULL,
  PRIMARY KEY (module, table_name)
)`;

/** Where the copy of one table stands. */
export interface TableProgress {
  readonly table: string;
  /** The source the rows came from (`describeSource`): a copy resumes only from the same source. */
  readonly source: string;
  /** Source primary key of the last row copied (JSON array in the table), null before the first batch. */
  readonly lastKey: readonly unknown[] | null;
  /** Rows copied so far. */
  readonly rows: number;
  /** All rows copied (and the table's verification may run). */
  readonly done: boolean;
}

/** Creates the progress table when missing. */
export async function ensureProgressTable(db: AnyDb): Promise<void> {
  await sql.raw(DDL).execute(db);
}

/** The progress rows of `module`, by table. */
export async function readProgress(db: AnyDb, module: string): Promise<Map<string, TableProgress>> {
  const { rows } = await sql<{ table_name: string; source: string; last_key: string | null; rows: number | string; done: number | string }>`
    SELECT table_name, source, last_key, rows, done FROM ${sql.id(PROGRESS_TABLE)} WHERE module = ${module}`.execute(db);
  return new Map(
    rows.map((r) => [
      r.table_name,
      {
        table: r.table_name,
        source: r.source,
        lastKey: r.last_key === null ? null : (JSON.parse(r.last_key) as unknown[]),
        rows: Number(r.rows),
        done: Number(r.done) === 1,
      },
    ]),
  );
}

/** Records `p` (insert or update); run it in the transaction of the batch it describes. */
export async function saveProgress(trx: AnyDb, module: string, p: TableProgress): Promise<void> {
  const lastKey = p.lastKey === null ? null : JSON.stringify(p.lastKey);
  const now = new Date().toISOString();
  await sql`
    INSERT INTO ${sql.id(PROGRESS_TABLE)} (module, table_name, source, last_key, rows, done, updated_at)
    VALUES (${module}, ${p.table}, ${p.source}, ${lastKey}, ${p.rows}, ${p.done ? 1 : 0}, ${now})
    ON CONFLICT (module, table_name) DO UPDATE SET source = excluded.source, last_key = excluded.last_key,
      rows = excluded.rows, done = excluded.done, updated_at = excluded.updated_at`.execute(trx);
}

/** Forgets every progress row of `module` (a fresh copy starts). */
export async function clearProgress(db: AnyDb, module: string): Promise<void> {
  await sql`DELETE FROM ${sql.id(PROGRESS_TABLE)} WHERE module = ${module}`.execute(db);
}
