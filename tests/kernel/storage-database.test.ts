import { afterEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { Kysely, sql } from "kysely";
import { openDatabase } from "../../src/kernel/storage/database.ts";
import { isUniqueViolation } from "../../src/kernel/storage/errors.ts";
import { migrate } from "../../src/kernel/storage/migrate.ts";
import { sqliteDialect } from "../../src/kernel/storage/sqlite-dialect.ts";
import { DATABASES, usePostgres } from "../helpers/databases.ts";
import { type FreshDb, freshDb, statementCount } from "./storage-fixture.ts";

usePostgres();

interface Tables {
  v: { id: number; at: string; doc: string; big: number; email: string };
}

for (const kind of DATABASES) {
  describe(`module database [${kind}]`, () => {
    let f: FreshDb<Tables>;
    afterEach(async () => f?.close());

    const open = async (): Promise<FreshDb<Tables>> => {
      f = await freshDb<Tables>(kind);
      await migrate(f.mdb, [
        {
          version: 1,
          name: "values",
          up: {
            sqlite:
              "CREATE TABLE v (id INTEGER PRIMARY KEY, at TEXT NOT NULL, doc TEXT NOT NULL, big INTEGER NOT NULL, email TEXT NOT NULL UNIQUE)",
            postgres:
              "CREATE TABLE v (id integer PRIMARY KEY, at timestamptz NOT NULL, doc jsonb NOT NULL, big bigint NOT NULL, email text NOT NULL CONSTRAINT v_email_key UNIQUE)",
          },
        },
      ]);
      return f;
    };

    test("values read back as written on both: ISO timestamps, JSON text, int8 as numbers", async () => {
      const { mdb } = await open();
      expect(mdb.dialect).toBe(kind);
      const at = "2026-01-02T03:04:05.678Z";
      const doc = JSON.stringify({ a: [1, "x"], b: null });
      await mdb.db
        .insertInto("v")
        .values({ id: 1, at, doc, big: 2 ** 40 + 7, email: "a@x" })
        .execute();
      const row = await mdb.db.selectFrom("v").selectAll().where("at", "<=", "2026-01-02T03:04:05.678Z").executeTakeFirstOrThrow();
      expect(row).toEqual({ id: 1, at, doc: expect.any(String), big: 2 ** 40 + 7, email: "a@x" });
      expect(JSON.parse(row.doc)).toEqual({ a: [1, "x"], b: null });
      const { n } = await mdb.db
        .selectFrom("v")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .executeTakeFirstOrThrow();
      expect(n).toBe(1);
    });

    test("unique violations are recognised on both, by table and column", async () => {
      const { mdb } = await open();
      await mdb.db.insertInto("v").values({ id: 1, at: new Date().toISOString(), doc: "{}", big: 1, email: "a@x" }).execute();
      const dupEmail = await mdb.db
        .insertInto("v")
        .values({ id: 2, at: new Date().toISOString(), doc: "{}", big: 1, email: "a@x" })
        .execute()
        .catch((e: unknown) => e);
      expect(isUniqueViolation(dupEmail)).toBe(true);
      expect(isUniqueViolation(dupEmail, { table: "v", columns: "email" })).toBe(true);
      expect(isUniqueViolation(dupEmail, { table: "v", columns: "id" })).toBe(false);
      const dupId = await mdb.db
        .insertInto("v")
        .values({ id: 1, at: new Date().toISOString(), doc: "{}", big: 1, email: "b@x" })
        .execute()
        .catch((e: unknown) => e);
      expect(isUniqueViolation(dupId, { table: "v", columns: "id" })).toBe(true);
      expect(isUniqueViolation(dupId, { table: "v", columns: "email" })).toBe(false);
      expect(isUniqueViolation(new Error("x"))).toBe(false);
    });

    test("statements through Kysely are counted by the statement metrics (instrumented underneath)", async () => {
      const { mdb, label } = await open();
      const before = await statementCount(label, "select");
      await mdb.db.selectFrom("v").selectAll().execute();
      await mdb.db.selectFrom("v").selectAll().execute();
      expect((await statementCount(label, "select")) - before).toBe(2);
    });

    test("a query issued while the database closes rejects instead of waiting forever", async () => {
      const { mdb } = await open();
      await sql`SELECT 1`.execute(mdb.db);
      const closing = mdb.close();
      const late = sql`SELECT 1`.execute(mdb.db).then(
        () => "answered",
        () => "rejected",
      );
      const outcome = await Promise.race([late, Bun.sleep(10_000).then(() => "hung")]);
      await closing;
      expect(outcome).toBe("rejected");
    });

    if (kind === "sqlite") {
      test("the connection has openSqlite's settings (WAL, foreign keys, busy timeout)", async () => {
        const { mdb } = await open();
        const pragma = async (name: string) => Object.values((await sql.raw(`PRAGMA ${name}`).execute(mdb.db)).rows[0] as object)[0];
        expect(await pragma("journal_mode")).toBe("wal");
        expect(await pragma("foreign_keys")).toBe(1);
        expect(await pragma("busy_timeout")).toBe(5000);
        expect(await pragma("synchronous")).toBe(1);
      });
    }
  });
}

test("the SQLite dialect reuses bun:sqlite's cached statements and never calls prepare", async () => {
  const raw = new Database(":memory:", { strict: true });
  raw.exec("CREATE TABLE t (x INTEGER)");
  const statements: object[] = [];
  const query = raw.query.bind(raw);
  raw.query = ((text: string) => {
    const s = query(text);
    statements.push(s);
    return s;
  }) as typeof raw.query;
  raw.prepare = (() => {
    throw new Error("prepare must not be called");
  }) as typeof raw.prepare;
  const db = new Kysely<{ t: { x: number } }>({ dialect: sqliteDialect(raw) });
  for (let i = 0; i < 3; i++) await db.insertInto("t").values({ x: i }).execute();
  expect(statements.length).toBe(3);
  expect(new Set(statements).size).toBe(1);
  expect((await db.selectFrom("t").select("x").execute()).map((r) => r.x)).toEqual([0, 1, 2]);
  await db.destroy();
});

test("openDatabase(sqlite) creates the file's directory and closes", async () => {
  const { mkdtempSync, rmSync, existsSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(join(tmpdir(), "sy-open-"));
  const mdb = openDatabase({ kind: "sqlite", path: join(dir, "a", "b.sqlite") });
  await sql`SELECT 1`.execute(mdb.db);
  await mdb.close();
  expect(existsSync(join(dir, "a", "b.sqlite"))).toBe(true);
  rmSync(dir, { recursive: true, force: true });
});
