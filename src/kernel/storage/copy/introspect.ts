import { type Kysely, sql } from "kysely";
import type { SqlDialect } from "../database.ts";
import { type LogicalType, postgresLogicalType, sqliteLogicalType } from "./values.ts";

/** One column of a table, as the database declares it. */
export interface ColumnInfo {
  readonly name: string;
  readonly type: LogicalType;
  /** Computed by the database (PostgreSQL `GENERATED ALWAYS AS (...)`, SQLite generated or hidden): never written, never compared. */
  readonly computed: boolean;
  /** PostgreSQL `GENERATED ALWAYS AS IDENTITY`: written with `OVERRIDING SYSTEM VALUE`, its sequence set after the copy. */
  readonly identity: boolean;
}

/** A base table of a module database. */
export interface TableInfo {
  readonly name: string;
  readonly columns: readonly ColumnInfo[];
  /** Primary-key columns in key order (empty when the table has none). */
  readonly primaryKey: readonly string[];
  /** Tables its foreign keys reference (itself excluded). */
  readonly parents: readonly string[];
}

/** Any Kysely over the module's database (the tables are found at run time, not typed). */
// biome-ignore lint/suspicious/noExplicitAny: tables are discovered at run time
export type AnyDb = Kysely<any>;

/**
 * The base tables of a module database: on SQLite those `PRAGMA table_list` calls `table`
 * (virtual FTS5 tables and their shadow tables are `virtual`/`shadow`) except `sqlite_*`; on
 * PostgreSQL the base tables of the schema the connection's `search_path` selects.
 */
export async function introspect(db: AnyDb, dialect: SqlDialect): Promise<Map<string, TableInfo>> {
  return dialect === "sqlite" ? introspectSqlite(db) : introspectPostgres(db);
}

async function introspectSqlite(db: AnyDb): Promise<Map<string, TableInfo>> {
  const { rows: tables } = await sql<{ name: string }>`
    SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`.execute(
    db,
  );
  const out = new Map<string, TableInfo>();
  for (const { name } of tables) {
    const { rows: cols } = await sql<{ name: string; type: string; pk: number; hidden: number }>`
      SELECT name, type, pk, hidden FROM pragma_table_xinfo(${name}) ORDER BY cid`.execute(db);
    const { rows: fks } = await sql<{ table: string }>`SELECT DISTINCT "table" FROM pragma_foreign_key_list(${name})`.execute(db);
    out.set(name, {
      name,
      // hidden: 1 hidden column of a virtual table, 2 and 3 generated columns.
      columns: cols.map((c) => ({ name: c.name, type: sqliteLogicalType(c.type), computed: Number(c.hidden) !== 0, identity: false })),
      primaryKey: cols
        .filter((c) => Number(c.pk) > 0)
        .sort((a, b) => Number(a.pk) - Number(b.pk))
        .map((c) => c.name),
      parents: fks.map((f) => f.table).filter((t) => t !== name),
    });
  }
  return out;
}

async function introspectPostgres(db: AnyDb): Promise<Map<string, TableInfo>> {
  const { rows: tables } = await sql<{ table_name: string }>`
    SELECT table_name FROM information_schema.tables
    WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`.execute(db);
  const { rows: cols } = await sql<{
    table_name: string;
    column_name: string;
    data_type: string;
    is_generated: string;
    identity_generation: string | null;
  }>`
    SELECT table_name, column_name, data_type, is_generated, identity_generation FROM information_schema.columns
    WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`.execute(db);
  const { rows: pks } = await sql<{ table_name: string; column_name: string }>`
    SELECT c.relname AS table_name, a.attname AS column_name
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
    WHERE i.indisprimary AND n.nspname = current_schema()
    ORDER BY c.relname, k.ord`.execute(db);
  const { rows: fks } = await sql<{ child: string; parent: string }>`
    SELECT DISTINCT c.relname AS child, p.relname AS parent
    FROM pg_constraint k
    JOIN pg_class c ON c.oid = k.conrelid
    JOIN pg_class p ON p.oid = k.confrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE k.contype = 'f' AND n.nspname = current_schema()`.execute(db);
  const out = new Map<string, TableInfo>();
  for (const { table_name: name } of tables) {
    out.set(name, {
      name,
      columns: cols
        .filter((c) => c.table_name === name)
        .map((c) => ({
          name: c.column_name,
          type: postgresLogicalType(c.data_type),
          computed: c.is_generated === "ALWAYS",
          identity: c.identity_generation === "ALWAYS",
        })),
      primaryKey: pks.filter((p) => p.table_name === name).map((p) => p.column_name),
      parents: fks.filter((f) => f.child === name && f.parent !== name).map((f) => f.parent),
    });
  }
  return out;
}
