import { afterEach, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { MigrationError, migrateSqlite, type Migration } from "../../src/kernel/storage/migrations.ts";
import { migrate } from "../../src/kernel/storage/migrate.ts";
import { migratePostgres, openPostgres } from "../../src/kernel/storage/postgres.ts";
import { openSqlite } from "../../src/kernel/storage/sqlite.ts";
import { DATABASES, usePostgres } from "../helpers/databases.ts";
import { type FreshDb, freshDb } from "./storage-fixture.ts";

usePostgres();

const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: "a", up: "CREATE TABLE a (id text PRIMARY KEY); CREATE TABLE a2 (id text PRIMARY KEY)" },
  {
    version: 2,
    name: "per dialect",
    up: { sqlite: "CREATE TABLE only_sqlite (x INTEGER)", postgres: "CREATE TABLE only_postgres (x bigint GENERATED ALWAYS AS IDENTITY)" },
  },
  { version: 5, name: "b", up: "CREATE TABLE b (id text PRIMARY KEY)" },
];

for (const kind of DATABASES) {
  describe(`migrate [${kind}]`, () => {
    let f: FreshDb<Record<string, never>>;
    afterEach(async () => f?.close());

    const tables = async (): Promise<string[]> => {
      const q =
        kind === "sqlite"
          ? sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
          : sql<{
              name: string;
            }>`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`;
      return (await q.execute(f.mdb.db)).rows.map((r) => r.name);
    };
    const recorded = async () =>
      (
        await sql<{
          version: number;
          name: string;
          applied_at: string;
        }>`SELECT version, name, applied_at FROM schema_migrations ORDER BY version`.execute(f.mdb.db)
      ).rows;

    test("applies pending migrations in order (every statement of a script, the dialect's own script), once", async () => {
      f = await freshDb(kind);
      expect(await migrate(f.mdb, MIGRATIONS)).toEqual([1, 2, 5]);
      expect(await tables()).toEqual(["a", "a2", "b", `only_${kind}`, "schema_migrations"]);
      const rows = await recorded();
      expect(rows.map((r) => [r.version, r.name])).toEqual([
        [1, "a"],
        [2, "per dialect"],
        [5, "b"],
      ]);
      expect(new Date(rows[0]?.applied_at as string).toISOString()).toBe(rows[0]?.applied_at as string);
      expect(await migrate(f.mdb, MIGRATIONS)).toEqual([]);
      expect(await migrate(f.mdb, [...MIGRATIONS, { version: 6, name: "c", up: "CREATE TABLE c (id text)" }])).toEqual([6]);
    });

    test("refuses a database migrated by newer code, and versions that do not increase", async () => {
      f = await freshDb(kind);
      await migrate(f.mdb, MIGRATIONS);
      await expect(migrate(f.mdb, MIGRATIONS.slice(0, 2))).rejects.toBeInstanceOf(MigrationError);
      await expect(migrate(f.mdb, MIGRATIONS.slice(0, 2))).rejects.toThrow("database has migration 5");
      const unordered = [MIGRATIONS[1], MIGRATIONS[0]] as Migration[];
      await expect(migrate(f.mdb, unordered)).rejects.toThrow("strictly increasing");
    });

    test("a failing migration is rolled back whole (its earlier statements too); the ones before it stay", async () => {
      f = await freshDb(kind);
      const bad: Migration = { version: 2, name: "bad", up: "CREATE TABLE half (id text); INSERT INTO no_such_table VALUES (1)" };
      await expect(migrate(f.mdb, [MIGRATIONS[0] as Migration, bad])).rejects.toThrow(/no_such_table/);
      expect(await tables()).toEqual(["a", "a2", "schema_migrations"]);
      expect((await recorded()).map((r) => r.version)).toEqual([1]);
    });

    test("a database migrated by the previous per-dialect runner is current: nothing is applied again", async () => {
      f = await freshDb(kind);
      if (f.config.kind === "sqlite") {
        const old = openSqlite(f.config.path);
        migrateSqlite(old, MIGRATIONS);
        old.close();
      } else {
        const old = openPostgres(f.config.url, { poolMax: 1 });
        await migratePostgres(old, MIGRATIONS);
        await old.end({ timeout: 5 });
      }
      expect(await migrate(f.mdb, MIGRATIONS)).toEqual([]);
      expect((await recorded()).map((r) => r.version)).toEqual([1, 2, 5]);
    });

    // PostgreSQL only: SQLite has one writer process per file (a second connection in the same
    // process would block the event loop in busy_timeout while the first awaits).
    if (kind === "postgres")
      test("instances starting together apply each version exactly once (advisory lock)", async () => {
        f = await freshDb(kind);
        const handles = [f.mdb, f.another(), f.another(), f.another()];
        const many: Migration[] = Array.from({ length: 6 }, (_, i) => ({
          version: i + 1,
          name: `t${i}`,
          up: `CREATE TABLE t${i} (id text)`,
        }));
        const done = await Promise.all(handles.map((h) => migrate(h, many)));
        expect(done.flat().sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
        expect((await recorded()).map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6]);
      });
  });
}
