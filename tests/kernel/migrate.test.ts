import { afterEach, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { MigrationError, type Migration } from "../../src/kernel/storage/migrations.ts";
import { migrate, openMigratedDatabase } from "../../src/kernel/storage/migrate.ts";
import type { ModuleDb } from "../../src/kernel/storage/database.ts";
import { openDatabase } from "../../src/kernel/storage/database.ts";
import { ACCOUNT_MIGRATIONS } from "../../src/modules/account/storage/migrations.ts";
import { CATALOG_MIGRATIONS } from "../../src/modules/catalog/storage/migrations.ts";
import { ORDER_MIGRATIONS } from "../../src/modules/order/storage/migrations.ts";
import { PAYMENT_MIGRATIONS } from "../../src/modules/payment/storage/migrations.ts";
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

    test("a failing migration is rolled back whole (its earlier statements too) and stops the run; the ones before it stay", async () => {
      f = await freshDb(kind);
      const bad: Migration = { version: 2, name: "bad", up: "CREATE TABLE half (id text); INSERT INTO no_such_table VALUES (1)" };
      const after: Migration = { version: 3, name: "after", up: "CREATE TABLE after_bad (id text)" };
      await expect(migrate(f.mdb, [MIGRATIONS[0] as Migration, bad, after])).rejects.toThrow(/no_such_table/);
      expect(await tables()).toEqual(["a", "a2", "schema_migrations"]);
      expect((await recorded()).map((r) => r.version)).toEqual([1]);
      // Fixed, the run goes on from the failed version.
      const fixed: Migration = { version: 2, name: "fixed", up: "CREATE TABLE half (id text)" };
      expect(await migrate(f.mdb, [MIGRATIONS[0] as Migration, fixed, after])).toEqual([2, 3]);
      expect(await tables()).toEqual(["a", "a2", "after_bad", "half", "schema_migrations"]);
    });

    test("a database migrated by the previous per-dialect runners is current: nothing is applied again", async () => {
      f = await freshDb(kind);
      // What those runners left: their migrations table (PostgreSQL stamped applied_at with its
      // default, SQLite wrote ISO text) with one row per version, and the migrated tables.
      const oldTable =
        kind === "sqlite"
          ? "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
          : "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())";
      const stamp = kind === "sqlite" ? `, '${new Date().toISOString()}'` : "";
      const rows = MIGRATIONS.map(
        (m) => `INSERT INTO schema_migrations (version, name${stamp ? ", applied_at" : ""}) VALUES (${m.version}, '${m.name}'${stamp})`,
      );
      const scripts = MIGRATIONS.map((m) => (typeof m.up === "string" ? m.up : m.up[kind]));
      await f.mdb.exec(f.mdb.db, [oldTable, ...scripts, ...rows].join(";\n"));
      expect(await migrate(f.mdb, MIGRATIONS)).toEqual([]);
      expect((await recorded()).map((r) => r.version)).toEqual([1, 2, 5]);
      expect(await tables()).toEqual(["a", "a2", "b", `only_${kind}`, "schema_migrations"]);
    });

    test("openMigratedDatabase: opens, migrates and runs setup; on a failure it closes the database and rethrows", async () => {
      f = await freshDb(kind);
      let seen: ModuleDb<Record<string, never>> | undefined;
      const mdb = await openMigratedDatabase<Record<string, never>>(f.config, MIGRATIONS, {
        setup: async (m) => {
          seen = m;
          await m.exec(m.db, "CREATE TABLE from_setup (x integer)");
        },
      });
      try {
        expect(seen).toBe(mdb);
        expect(await tables()).toEqual(["a", "a2", "b", "from_setup", `only_${kind}`, "schema_migrations"]);
      } finally {
        await mdb.close();
      }
      let failed: ModuleDb<Record<string, never>> | undefined;
      const failing = openMigratedDatabase<Record<string, never>>(f.config, MIGRATIONS, {
        setup: async (m) => {
          failed = m;
          throw new Error("setup failed");
        },
      });
      await expect(failing).rejects.toThrow("setup failed");
      // Closed: the handle refuses queries.
      await expect(sql`SELECT 1`.execute((failed as ModuleDb<Record<string, never>>).db)).rejects.toThrow();
      const newer = [...MIGRATIONS.slice(0, 2)];
      await expect(openMigratedDatabase(f.config, newer)).rejects.toBeInstanceOf(MigrationError);
    });

    test.each([
      ["account", ACCOUNT_MIGRATIONS],
      ["catalog", CATALOG_MIGRATIONS],
      ["order", ORDER_MIGRATIONS],
      ["payment", PAYMENT_MIGRATIONS],
    ] as const)(
      "%s: a fresh database (PostgreSQL: the module's own schema) gets every version; a second run applies none",
      async (_name, migrations) => {
        f = await freshDb(kind);
        let target = f.mdb;
        if (f.config.kind === "postgres") {
          // As a shared DATABASE_URL gives each module: its own schema, selected by search_path.
          await sql`CREATE SCHEMA m`.execute(f.mdb.db);
          target = openDatabase({ ...f.config, url: `${f.config.url}?search_path=m` });
        }
        try {
          expect(await migrate(target, migrations)).toEqual(migrations.map((m) => m.version));
          expect(await migrate(target, migrations)).toEqual([]);
          const { rows } = await sql<{
            version: number;
            name: string;
          }>`SELECT version, name FROM schema_migrations ORDER BY version`.execute(target.db);
          expect(rows.map((r) => [r.version, r.name])).toEqual(migrations.map((m) => [m.version, m.name]));
          // Nothing landed outside the module's schema.
          if (kind === "postgres") expect(await tables()).toEqual([]);
        } finally {
          if (target !== f.mdb) await target.close();
        }
      },
    );

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

    if (kind === "postgres")
      test("instances starting together on one module schema apply each version exactly once (a module's real list)", async () => {
        f = await freshDb(kind);
        if (f.config.kind !== "postgres") throw new Error("postgres only");
        await sql`CREATE SCHEMA catalog`.execute(f.mdb.db);
        const config = { ...f.config, url: `${f.config.url}?search_path=catalog` };
        const handles = [openDatabase(config), openDatabase(config)];
        try {
          const done = await Promise.all(handles.map((h) => migrate(h, CATALOG_MIGRATIONS)));
          expect(done.flat().sort((a, b) => a - b)).toEqual(CATALOG_MIGRATIONS.map((m) => m.version));
        } finally {
          await Promise.all(handles.map((h) => h.close()));
        }
      });
  });
}
