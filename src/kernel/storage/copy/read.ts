import { type RawBuilder, sql } from "kysely";
import type { SqlDialect } from "../database.ts";
import type { AnyDb } from "./introspect.ts";
import type { LogicalType } from "./values.ts";

/** A row as the driver returns it, by column name. */
export type Row = Record<string, unknown>;

/**
 * Runs `fn` on one connection inside one read-only snapshot of the database, so every table
 * of a module is read as of the same moment (a running monolith may go on writing):
 * - SQLite: a deferred `BEGIN` on the store's one connection; in WAL mode the snapshot is taken
 *   at its first read and writers are never blocked (https://www.sqlite.org/isolation.html).
 *   Not Kysely's transaction, which begins IMMEDIATE (a write lock for the whole copy).
 * - PostgreSQL: `REPEATABLE READ READ ONLY` on a reserved connection (one snapshot for the transaction).
 * Writes committed meanwhile are not in the snapshot. The transaction is always rolled back.
 */
export async function inSnapshot<T>(db: AnyDb, dialect: SqlDialect, fn: (conn: AnyDb) => Promise<T>): Promise<T> {
  return db.connection().execute(async (conn) => {
    await sql.raw(dialect === "postgres" ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN").execute(conn);
    try {
      return await fn(conn);
    } finally {
      await sql.raw("ROLLBACK").execute(conn);
    }
  });
}

/** A key column: text keys compare byte-wise on both databases (PostgreSQL `COLLATE "C"`, SQLite's BINARY). */
function keyExpr(name: string, type: LogicalType, dialect: SqlDialect): RawBuilder<unknown> {
  return dialect === "postgres" && type === "text" ? sql`${sql.id(name)} COLLATE "C"` : sql`${sql.id(name)}`;
}

/** What {@link readBatch} reads. */
export interface KeysetQuery {
  readonly table: string;
  /** Columns to read (the key's included). */
  readonly columns: readonly string[];
  /** Primary key, in key order, with each column's logical type. */
  readonly key: readonly { readonly name: string; readonly type: LogicalType }[];
  /** Key of the last row already read, or null for the first batch. */
  readonly after: readonly unknown[] | null;
  readonly limit: number;
}

/**
 * One batch of rows in primary-key order after `q.after` (keyset pagination: each batch is an
 * index range scan, whatever the offset).
 */
export async function readBatch(conn: AnyDb, dialect: SqlDialect, q: KeysetQuery): Promise<Row[]> {
  const keys = q.key.map((k) => keyExpr(k.name, k.type, dialect));
  const cols = sql.join(q.columns.map((c) => sql.id(c)));
  const order = sql.join(keys);
  const where =
    q.after === null
      ? sql``
      : keys.length === 1
        ? sql`WHERE ${keys[0]} > ${q.after[0]}`
        : sql`WHERE (${sql.join(keys)}) > (${sql.join(q.after.map((v) => sql`${v}`))})`;
  const { rows } = await sql<Row>`SELECT ${cols} FROM ${sql.id(q.table)} ${where} ORDER BY ${order} LIMIT ${sql.lit(q.limit)}`.execute(
    conn,
  );
  return rows;
}

/** Rows of `table`. */
export async function countRows(conn: AnyDb, table: string): Promise<number> {
  const { rows } = await sql<{ n: number | string }>`SELECT count(*) AS n FROM ${sql.id(table)}`.execute(conn);
  return Number(rows[0]?.n ?? 0);
}
