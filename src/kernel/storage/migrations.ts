/** One versioned schema change. Versions are positive integers, strictly increasing. */
export interface Migration {
  version: number;
  /** Short description, stored in the migrations table. */
  name: string;
  /**
   * SQL to apply (may contain several statements): one script for both databases, or one per
   * dialect when the DDL must differ (types, identity columns, collations, FTS5 vs tsvector).
   */
  up: string | DialectScripts;
}

/** A migration script per SQL dialect. */
export interface DialectScripts {
  sqlite: string;
  postgres: string;
}

/** The script of `m` for `dialect`. */
export function scriptFor(m: Migration, dialect: "sqlite" | "postgres"): string {
  return typeof m.up === "string" ? m.up : m.up[dialect];
}

/** Thrown when the migration list is malformed or the database is ahead of the code. */
export class MigrationError extends Error {
  override readonly name = "MigrationError";
}
