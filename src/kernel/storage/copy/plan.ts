import { CopyError } from "./errors.ts";
import type { TableInfo } from "./introspect.ts";
import { comparedType, type LogicalType } from "./values.ts";

/** The copy's progress table in each target database (see progress.ts); never a module table. */
export const PROGRESS_TABLE = "switchyard_copy";
/** Tables of every module database that are no module data: the migration runner's and the copy's own. */
const BOOKKEEPING = new Set(["schema_migrations", PROGRESS_TABLE]);

/** A column copied and compared: present on both sides and computed on neither. */
export interface PlannedColumn {
  readonly name: string;
  readonly sourceType: LogicalType;
  readonly targetType: LogicalType;
  /** The type both sides' values are canonicalised by in the checksum. */
  readonly compared: LogicalType;
  /**
   * Fraction digits a timestamp is copied and compared with: 6 when both sides are PostgreSQL
   * timestamps (exact to the microsecond), 3 when one side is SQLite, which stores what the
   * code writes (ISO-8601 with milliseconds): a PostgreSQL `now()` stamp moved to SQLite keeps
   * its milliseconds.
   */
  readonly fractionDigits: 3 | 6;
  /** A PostgreSQL identity column on the target (`OVERRIDING SYSTEM VALUE`, sequence set afterwards). */
  readonly identity: boolean;
}

/** A primary-key column and its logical type (text keys are compared byte-wise). */
export interface KeyColumn {
  readonly name: string;
  readonly type: LogicalType;
}

/** The primary key of `t` with its columns' types. */
function keyOf(t: TableInfo): KeyColumn[] {
  return t.primaryKey.map((name) => ({ name, type: t.columns.find((c) => c.name === name)?.type ?? "text" }));
}

/** How one table is copied and verified. */
export interface TablePlan {
  readonly name: string;
  readonly columns: readonly PlannedColumn[];
  /** The source's primary key: the copy's read order and resume point. */
  readonly sourceKey: readonly KeyColumn[];
  /** The target's primary key: the verification's read order there. */
  readonly targetKey: readonly KeyColumn[];
}

/**
 * The tables of one module to copy, parents before children (by the target's foreign keys).
 * Columns are those both sides have (e.g. catalog `products.seq` exists on SQLite only: the
 * target assigns its own), minus computed ones.
 * @param derived tables the module's triggers keep (`ModuleStorage.derived`): not copied.
 * @throws CopyError when a table exists on one side only or has no primary key.
 */
export function planTables(
  module: string,
  source: ReadonlyMap<string, TableInfo>,
  target: ReadonlyMap<string, TableInfo>,
  derived: readonly string[] = [],
): TablePlan[] {
  const skip = (t: string): boolean => BOOKKEEPING.has(t) || derived.includes(t);
  const sourceNames = [...source.keys()].filter((t) => !skip(t));
  const targetNames = [...target.keys()].filter((t) => !skip(t));
  const onlySource = sourceNames.filter((t) => !target.has(t));
  const onlyTarget = targetNames.filter((t) => !source.has(t));
  if (onlySource.length > 0 || onlyTarget.length > 0) {
    const parts = [
      onlySource.length > 0 ? `only in the source: ${onlySource.join(", ")}` : "",
      onlyTarget.length > 0 ? `only in the target: ${onlyTarget.join(", ")}` : "",
    ].filter(Boolean);
    throw new CopyError(
      `${module}: the source and the target have different tables (${parts.join("; ")}); ` +
        "a table kept by triggers belongs in the module's storage.derived",
    );
  }
  const plans = new Map<string, TablePlan>();
  for (const name of sourceNames) {
    const s = source.get(name) as TableInfo;
    const t = target.get(name) as TableInfo;
    if (s.primaryKey.length === 0)
      throw new CopyError(`${module}: table ${name} has no primary key in the source: it cannot be copied in key order`);
    if (t.primaryKey.length === 0) throw new CopyError(`${module}: table ${name} has no primary key in the target`);
    const columns: PlannedColumn[] = [];
    for (const sc of s.columns) {
      const tc = t.columns.find((c) => c.name === sc.name);
      if (!tc || sc.computed || tc.computed) continue;
      columns.push({
        name: sc.name,
        sourceType: sc.type,
        targetType: tc.type,
        compared: comparedType(sc.type, tc.type),
        fractionDigits: sc.type === "timestamp" && tc.type === "timestamp" ? 6 : 3,
        identity: tc.identity,
      });
    }
    plans.set(name, { name, columns, sourceKey: keyOf(s), targetKey: keyOf(t) });
  }
  return parentsFirst(module, plans, target);
}

/** Topological order by the target's foreign keys (depth first; a cycle is an error). */
function parentsFirst(module: string, plans: Map<string, TablePlan>, target: ReadonlyMap<string, TableInfo>): TablePlan[] {
  const out: TablePlan[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string): void => {
    if (state.get(name) === "done") return;
    if (state.get(name) === "visiting") throw new CopyError(`${module}: foreign keys form a cycle through table ${name}`);
    state.set(name, "visiting");
    for (const p of target.get(name)?.parents ?? []) if (plans.has(p)) visit(p);
    state.set(name, "done");
    out.push(plans.get(name) as TablePlan);
  };
  for (const name of [...plans.keys()].sort()) visit(name);
  return out;
}
