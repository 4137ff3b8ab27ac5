import type { DatabaseConfig, ModuleStorage } from "../../module.ts";
import { digestTable, type TableDigest } from "./checksum.ts";
import { describeDatabase, openExisting } from "./endpoint.ts";
import { CopyError } from "./errors.ts";
import { type AnyDb, introspect } from "./introspect.ts";
import { planTables } from "./plan.ts";
import { inSnapshot } from "./read.ts";

/** The verification of one table: counts and checksums on both sides. */
export interface TableVerification {
  readonly module: string;
  readonly table: string;
  readonly source: TableDigest;
  readonly target: TableDigest;
  /** Same row count and same checksum. */
  readonly match: boolean;
}

/**
 * Compares every table of a module on both sides (row count and order-independent checksum,
 * `digestTable`), each side read in one snapshot. Writes to the source after its copy's
 * snapshot was taken (a monolith still running) show up here as a difference: they were not copied.
 * @param batchRows rows per read.
 * @throws CopyError when a database does not exist or the sides' tables differ; the driver's
 *   error when a database is unreachable.
 */
export async function verifyModule(
  module: string,
  storage: ModuleStorage,
  source: DatabaseConfig,
  target: DatabaseConfig,
  batchRows: number,
): Promise<TableVerification[]> {
  const src = openExisting(source, `${module}: source`);
  try {
    const tgt = openExisting(target, `${module}: target`);
    try {
      const s = src.db as AnyDb;
      const t = tgt.db as AnyDb;
      const targetTables = await introspect(t, tgt.dialect);
      if (!targetTables.has("schema_migrations"))
        throw new CopyError(`${module}: the target ${describeDatabase(target)} has no ${module} tables (nothing copied there)`);
      const tables = planTables(module, await introspect(s, src.dialect), targetTables, storage.derived);
      const [sd, td] = await Promise.all([
        inSnapshot(s, src.dialect, async (conn) => {
          const out: TableDigest[] = [];
          for (const plan of tables) out.push(await digestTable(conn, src.dialect, plan, "source", batchRows));
          return out;
        }),
        inSnapshot(t, tgt.dialect, async (conn) => {
          const out: TableDigest[] = [];
          for (const plan of tables) out.push(await digestTable(conn, tgt.dialect, plan, "target", batchRows));
          return out;
        }),
      ]);
      return tables.map((plan, i) => {
        const a = sd[i] as TableDigest;
        const b = td[i] as TableDigest;
        return { module, table: plan.name, source: a, target: b, match: a.rows === b.rows && a.checksum === b.checksum };
      });
    } finally {
      await tgt.close();
    }
  } finally {
    await src.close();
  }
}

/** The verification as a text table: module, table, source rows, target rows, checksum match. */
export function formatVerification(rows: readonly TableVerification[]): string {
  const head = ["module", "table", "source rows", "target rows", "checksum"];
  const body = rows.map((r) => [
    r.module,
    r.table,
    String(r.source.rows),
    String(r.target.rows),
    r.match ? "match" : r.source.checksum === r.target.checksum ? "match (counts differ)" : "DIFFERENT",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i >= 2 && i <= 3 ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number)))
      .join("  ")
      .trimEnd();
  return `${[line(head), ...body.map(line)].join("\n")}\n`;
}
