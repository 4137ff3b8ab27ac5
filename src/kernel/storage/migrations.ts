import type { Database } from "bun:sqlite";

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

/**
 * Applies pending migrations to a SQLite database, each in its own transaction, recording
 * them in `schema_migrations(version, name, applied_at)`. Idempotent: running it again applies
 * nothing. Returns the versions applied by this call.
 *
 * @throws MigrationError if versions are not strictly increasing, or the database has a
 *   version the code does not know (it was migrated by newer code).
 */
export function migrateSqlite(db: Database, migrations: readonly Migration[]): number[] {
  for (let i = 1; i < migrations.length; i++) {
    if ((migrations[i] as Migration).version <= (migrations[i - 1] as Migration).version) {
      throw new MigrationError("migration versions must be strictly increasing");
    }
  }
  db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)");
  const applied = new Set(
    db
      .query<{ version: number }, []>("SELECT version FROM schema_migrations")
      .all()
      .map((r) => r.version),
  );
  const known = new Set(migrations.map((m) => m.version));
  for (const v of applied) {
    if (!known.has(v)) throw new MigrationError(`database has migration ${v}, unknown to this version of the code`);
  }
  const done: number[] = [];
  for (const m of migrations) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(scriptFor(m, "sqlite"));
      db.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(
        m.version,
        m.name,
        new Date().toISOString(),
      );
    })();
    done.push(m.version);
  }
  return done;
}
