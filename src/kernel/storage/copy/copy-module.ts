import { sql } from "kysely";
import type { DatabaseConfig, ModuleStorage } from "../../module.ts";
import { type ModuleDb, openDatabase } from "../database.ts";
import { migrate } from "../migrate.ts";
import { ensureSchema } from "../resolve.ts";
import { describeDatabase, openExisting } from "./endpoint.ts";
import { TargetNotEmptyError } from "./errors.ts";
import { type CopyLock, lockCopyTarget } from "./lock.ts";
import { type AnyDb, introspect } from "./introspect.ts";
import { planTables, type TablePlan } from "./plan.ts";
import { clearProgress, ensureProgressTable, readProgress, saveProgress, type TableProgress } from "./progress.ts";
import { countRows, inSnapshot, readBatch, type Row } from "./read.ts";
import type { CopyReporter } from "./reporter.ts";
import { checkSourceMigrations } from "./source-check.ts";
import { toTarget } from "./values.ts";

/**
 * Bound parameters per INSERT: below SQLite's 32766 (SQLITE_MAX_VARIABLE_NUMBER) and
 * PostgreSQL's 65535, so a batch of wide rows is cut to fit.
 */
const MAX_PARAMS = 30_000;

/** One module's data move. */
export interface ModuleCopySpec {
  readonly module: string;
  readonly storage: ModuleStorage;
  readonly source: DatabaseConfig;
  readonly target: DatabaseConfig;
}

/** Options of {@link prepareModuleCopy}. */
export interface ModuleCopyOptions {
  /** Empty the module's tables in the target first (children before parents) and copy anew. */
  readonly replace: boolean;
  /** Rows per batch (one target transaction each), further bounded by {@link MAX_PARAMS}. */
  readonly batchRows: number;
  readonly reporter: CopyReporter;
}

/**
 * What a prepared copy will do: copy into an empty target, resume an interrupted copy of the
 * same source, empty the target first (`replace`), or nothing (`done`: the target holds the
 * finished copy of this source).
 */
export type CopyStart = "fresh" | "resume" | "replace" | "done";

/** A module copy whose checks passed: {@link PreparedCopy.run} it, then {@link PreparedCopy.close} it. */
export interface PreparedCopy {
  readonly module: string;
  readonly start: CopyStart;
  readonly tables: readonly TablePlan[];
  /** Copies every table; resumes after the last committed batch of an interrupted run. */
  run(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens a module's source and target and checks that the copy may run, before anything is
 * written: the source exists (a SQLite file is never created) and carries exactly the code's
 * migrations (it is never migrated or written); the target is migrated (`migrate`) and its
 * tables match the source's (`planTables`); the target holds none of the module's data, or the
 * unfinished copy of the same source (resumed), or its finished copy (`done`: nothing to run),
 * or `replace` was asked. The target stays locked for this copy until `close` (`lockCopyTarget`).
 *
 * @throws CopyError when a check fails; TargetNotEmptyError when the target has other data and
 *   `replace` is off; the driver's error when a database is unreachable. Both databases are
 *   closed on failure.
 */
export async function prepareModuleCopy(spec: ModuleCopySpec, opts: ModuleCopyOptions): Promise<PreparedCopy> {
  const { module, storage } = spec;
  const sourceName = describeDatabase(spec.source);
  const src = openExisting(spec.source, `${module}: source`);
  let tgt: ModuleDb<unknown> | undefined;
  let lock: CopyLock | undefined;
  const close = async (): Promise<void> => {
    await src.close();
    await tgt?.close();
    await lock?.release();
  };
  try {
    const s = src.db as AnyDb;
    await checkSourceMigrations(s, module, storage.migrations, sourceName);
    await ensureSchema(spec.target);
    // Held until close: a second copy into the same target is refused, not interleaved.
    lock = await lockCopyTarget(spec.target, module);
    tgt = openDatabase<unknown>(spec.target, { exactTimestamps: true });
    await migrate(tgt, storage.migrations);
    const t = tgt.db as AnyDb;
    await ensureProgressTable(t);
    const tables = planTables(module, await introspect(s, src.dialect), await introspect(t, tgt.dialect), storage.derived);
    const start = await decideStart(t, module, tables, sourceName, opts.replace);
    const target = tgt;
    return {
      module,
      start,
      tables,
      run: async () => {
        // Emptied only now: `run` is called once every selected module's checks passed, so a
        // refused module cannot leave another's target emptied by --replace and nothing copied.
        if (start === "replace") {
          await t.transaction().execute(async (trx) => {
            for (const plan of [...tables].reverse()) await sql`DELETE FROM ${sql.id(plan.name)}`.execute(trx);
            await clearProgress(trx, module);
          });
        }
        if (start !== "done") await copyTables(module, src, target, tables, sourceName, opts);
        // Every time, "done" included: a copy killed after its last batch but before this
        // step left every table done and the sequences behind the copied ids (idempotent).
        if (target.dialect === "postgres") await continueIdentities(t, tables);
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Fresh (target empty: stale progress forgotten), resume (progress of this source, unfinished),
 * done (progress of this source, finished) or replace. Anything else is a non-empty target.
 */
async function decideStart(t: AnyDb, module: string, tables: readonly TablePlan[], source: string, replace: boolean): Promise<CopyStart> {
  if (replace) return "replace";
  const progress = await readProgress(t, module);
  const mine = [...progress.values()].filter((p) => p.source === source);
  const finished = tables.every((plan) => progress.get(plan.name)?.done === true && progress.get(plan.name)?.source === source);
  if (mine.length > 0 && mine.length === progress.size && !finished) return "resume";
  const withRows: string[] = [];
  for (const plan of tables) {
    const { rows } = await sql`SELECT 1 AS x FROM ${sql.id(plan.name)} LIMIT 1`.execute(t);
    if (rows.length > 0) withRows.push(plan.name);
  }
  if (withRows.length === 0) {
    await clearProgress(t, module);
    return "fresh";
  }
  if (finished && mine.length === progress.size) return "done";
  throw new TargetNotEmptyError(
    `${module}: the target already has data (tables ${withRows.join(", ")}); --replace empties them and copies anew`,
  );
}

/** Copies every table in one snapshot of the source, each batch in one target transaction with its progress row. */
async function copyTables(
  module: string,
  src: ModuleDb<unknown>,
  tgt: ModuleDb<unknown>,
  tables: readonly TablePlan[],
  source: string,
  opts: ModuleCopyOptions,
): Promise<void> {
  const t = tgt.db as AnyDb;
  const progress = await readProgress(t, module);
  await inSnapshot(src.db as AnyDb, src.dialect, async (conn) => {
    const totals = new Map<string, number>();
    for (const plan of tables) totals.set(plan.name, await countRows(conn, plan.name));
    const sum = (f: (name: string) => number): number => tables.reduce((n, p) => n + f(p.name), 0);
    opts.reporter.moduleStart(
      module,
      sum((n) => totals.get(n) ?? 0),
      sum((n) => progress.get(n)?.rows ?? 0),
    );
    for (const plan of tables) {
      const total = totals.get(plan.name) ?? 0;
      let p: TableProgress = progress.get(plan.name) ?? { table: plan.name, source, lastKey: null, rows: 0, done: false };
      if (p.done) continue;
      opts.reporter.tableStart(module, plan.name, total, p.rows);
      const limit = Math.max(1, Math.min(opts.batchRows, Math.floor(MAX_PARAMS / Math.max(1, plan.columns.length))));
      const columns = [...new Set([...plan.sourceKey.map((k) => k.name), ...plan.columns.map((c) => c.name)])];
      for (;;) {
        const batch = await readBatch(conn, src.dialect, { table: plan.name, columns, key: plan.sourceKey, after: p.lastKey, limit });
        const last = batch[batch.length - 1];
        const next: TableProgress = {
          ...p,
          lastKey: last ? plan.sourceKey.map((k) => last[k.name]) : p.lastKey,
          rows: p.rows + batch.length,
          done: batch.length < limit,
        };
        await t.transaction().execute(async (trx) => {
          if (batch.length > 0) await insertRows(trx, tgt.dialect, plan, batch);
          await saveProgress(trx, module, next);
        });
        p = next;
        if (batch.length > 0) opts.reporter.rowsCopied(module, plan.name, p.rows, total, batch.length);
        if (p.done) break;
      }
      opts.reporter.tableDone(module, plan.name, p.rows);
    }
  });
  opts.reporter.moduleDone(module);
}

/** One multi-row INSERT; identity columns keep the source's values (`OVERRIDING SYSTEM VALUE`). */
async function insertRows(trx: AnyDb, dialect: ModuleDb<unknown>["dialect"], plan: TablePlan, rows: readonly Row[]): Promise<void> {
  const cols = plan.columns;
  const values = rows.map((r) => sql`(${sql.join(cols.map((c) => sql`${toTarget(r[c.name], c.targetType, dialect, c.fractionDigits)}`))})`);
  const override = dialect === "postgres" && cols.some((c) => c.identity) ? sql`OVERRIDING SYSTEM VALUE` : sql``;
  await sql`INSERT INTO ${sql.id(plan.name)} (${sql.join(cols.map((c) => sql.id(c.name)))}) ${override} VALUES ${sql.join(values)}`.execute(
    trx,
  );
}

/**
 * Sets each copied identity column's sequence past the largest copied value, so rows inserted
 * after the copy continue after the copied ones (PostgreSQL; SQLite's INTEGER PRIMARY KEY
 * already continues after its largest value).
 */
async function continueIdentities(t: AnyDb, tables: readonly TablePlan[]): Promise<void> {
  for (const plan of tables) {
    for (const c of plan.columns.filter((col) => col.identity)) {
      await sql`SELECT setval(pg_get_serial_sequence(${`"${plan.name.replace(/"/g, '""')}"`}, ${c.name}), coalesce(max(${sql.id(c.name)}), 0) + 1, false) FROM ${sql.id(plan.name)}`.execute(
        t,
      );
    }
  }
}
