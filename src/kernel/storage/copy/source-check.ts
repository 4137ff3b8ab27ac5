import { sql } from "kysely";
import type { Migration } from "../migrations.ts";
import { CopyError } from "./errors.ts";
import type { AnyDb } from "./introspect.ts";

/**
 * Refuses a source whose applied migrations are not exactly the code's: its tables would not
 * match the target the code migrates (the copy never migrates or writes its source).
 * @param where the source, for the message.
 * @throws CopyError when the source has no `schema_migrations` or other versions; the driver's
 *   error when the database is unreachable.
 */
export async function checkSourceMigrations(db: AnyDb, module: string, migrations: readonly Migration[], where: string): Promise<void> {
  let applied: number[];
  try {
    const { rows } = await sql<{ version: number | string }>`SELECT version FROM schema_migrations ORDER BY version`.execute(db);
    applied = rows.map((r) => Number(r.version));
  } catch (err) {
    if (!isMissingTable(err)) throw err;
    throw new CopyError(
      `${module}: the source ${where} has no schema_migrations table: not the ${module} module's database, or never migrated; ` +
        "run `switchyard --migrate` against it first",
    );
  }
  const code = migrations.map((m) => m.version);
  const newer = applied.filter((v) => !code.includes(v));
  if (newer.length > 0) {
    throw new CopyError(
      `${module}: the source ${where} has migrations ${newer.join(", ")} unknown to this version of the code: copy it with the version that migrated it`,
    );
  }
  const missing = code.filter((v) => !applied.includes(v));
  if (missing.length > 0) {
    throw new CopyError(
      `${module}: the source ${where} lacks migrations ${missing.join(", ")}: run \`switchyard --migrate\` against it first ` +
        "(same DATA_DIR / DATABASE_URL), then copy",
    );
  }
}

/** PostgreSQL's undefined_table (42P01, also when the schema is missing) or SQLite's "no such table". */
function isMissingTable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e?.code === "42P01" || (typeof e?.message === "string" && e.message.includes("no such table"));
}
