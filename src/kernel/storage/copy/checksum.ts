import { createHash } from "node:crypto";
import type { SqlDialect } from "../database.ts";
import type { AnyDb } from "./introspect.ts";
import type { KeyColumn, TablePlan } from "./plan.ts";
import { countRows, readBatch, type Row } from "./read.ts";
import { canonical } from "./values.ts";

/** Row count and checksum of one table on one side. */
export interface TableDigest {
  readonly rows: number;
  /** 16 hex digits: see {@link rowHash}. */
  readonly checksum: string;
}

const MOD = 1n << 64n;

/**
 * The hash of one row: the planned columns sorted by name, each value canonicalised by the
 * column's compared type (`canonical`: NULL distinct from ""), as a JSON array of
 * `[name, value]` pairs; SHA-256 of that text, its first 8 bytes as an unsigned big-endian
 * integer. A table's checksum is the sum of its rows' hashes mod 2^64: independent of the order
 * rows are read in, so each side reads in its own key order.
 */
export function rowHash(row: Row, plan: TablePlan): bigint {
  const cols = [...plan.columns].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const text = JSON.stringify(cols.map((c) => [c.name, canonical(row[c.name], c.compared, c.fractionDigits)]));
  return createHash("sha256").update(text).digest().readBigUInt64BE(0);
}

/**
 * Counts and checksums one table inside the caller's snapshot (`inSnapshot`), reading it in
 * key order in batches of `batchRows`.
 */
export async function digestTable(
  conn: AnyDb,
  dialect: SqlDialect,
  plan: TablePlan,
  side: "source" | "target",
  batchRows: number,
): Promise<TableDigest> {
  const key: readonly KeyColumn[] = side === "source" ? plan.sourceKey : plan.targetKey;
  const columns = [...new Set([...key.map((k) => k.name), ...plan.columns.map((c) => c.name)])];
  let sum = 0n;
  let rows = 0;
  let after: unknown[] | null = null;
  for (;;) {
    const batch = await readBatch(conn, dialect, { table: plan.name, columns, key, after, limit: batchRows });
    for (const row of batch) sum = (sum + rowHash(row, plan)) % MOD;
    rows += batch.length;
    if (batch.length < batchRows) break;
    const last = batch[batch.length - 1] as Row;
    after = key.map((k) => last[k.name]);
  }
  // A cheap cross-check that the keyset walk saw every row.
  const counted = await countRows(conn, plan.name);
  if (counted !== rows) throw new Error(`${plan.name}: read ${rows} rows in key order but count(*) is ${counted}`);
  return { rows, checksum: sum.toString(16).padStart(16, "0") };
}
