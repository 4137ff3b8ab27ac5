/**
 * Where a unique constraint sits: its table and its column(s) as listed in the constraint,
 * comma-separated without spaces for several (`"order_id,sku"`).
 */
export interface UniqueKey {
  table: string;
  columns: string;
}

/**
 * True when `err` is a unique-constraint (or primary-key) violation on either database,
 * optionally of `key` only (so that a primary-key clash is not mistaken for a taken e-mail).
 * SQLite: bun:sqlite's `code` `SQLITE_CONSTRAINT_UNIQUE`/`_PRIMARYKEY`, message
 * `UNIQUE constraint failed: <table>.<col>[, <table>.<col>]`. PostgreSQL: SQLSTATE 23505 with the
 * driver's `table_name` and `detail` `Key (<cols>)=(...) already exists.`
 */
export function isUniqueViolation(err: unknown, key?: UniqueKey): boolean {
  if (typeof err !== "object" || err === null) return false;
  const e = err as { code?: unknown; message?: unknown; table_name?: unknown; detail?: unknown };
  if (e.code === "SQLITE_CONSTRAINT_UNIQUE" || e.code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
    if (!key) return true;
    const cols = key.columns.split(",").map((c) => `${key.table}.${c}`);
    return typeof e.message === "string" && e.message.endsWith(`failed: ${cols.join(", ")}`);
  }
  if (e.code === "23505") {
    if (!key) return true;
    return e.table_name === key.table && typeof e.detail === "string" && e.detail.startsWith(`Key (${key.columns.split(",").join(", ")})=`);
  }
  return false;
}
