import { afterEach, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { migrate } from "../../src/kernel/storage/migrate.ts";
import { Prepared } from "../../src/kernel/storage/prepared.ts";
import { DATABASES, usePostgres } from "../helpers/databases.ts";
import { type FreshDb, freshDb, statementCount } from "./storage-fixture.ts";

/** Prepared (the stores' hot statements): built and compiled once, each call binds its own values. */

usePostgres();

interface Tables {
  t: { id: string; account_id: string; created_at: string; n: number };
}

for (const kind of DATABASES)
  describe(`Prepared [${kind}]`, () => {
    let f: FreshDb<Tables>;
    afterEach(async () => f?.close());

    const open = async () => {
      f = await freshDb<Tables>(kind);
      await migrate(f.mdb, [
        {
          version: 1,
          name: "t",
          up: "CREATE TABLE t (id text PRIMARY KEY, account_id text NOT NULL, created_at text NOT NULL, n integer NOT NULL)",
        },
      ]);
      const db = f.mdb.db;
      await db
        .insertInto("t")
        .values([
          { id: "a", account_id: "acc", created_at: "2020-01-01", n: 1 },
          { id: "b", account_id: "acc", created_at: "2021-01-01", n: 2 },
          { id: "c", account_id: "other", created_at: "2020-01-01", n: 3 },
        ])
        .execute();
      return db;
    };

    test("a query builder: each call's arguments bind where they were built, constants stay, arguments in any order", async () => {
      const db = await open();
      const select = new Prepared(
        db,
        (arg) =>
          db
            .selectFrom("t")
            .select(["id", "account_id as accountId"])
            .where("created_at", "=", "2020-01-01")
            .where("account_id", "=", arg<string>(1))
            .where("id", "=", arg<string>(0)),
        2,
      );
      expect((await select.execute(db, ["a", "acc"])).rows).toEqual([{ id: "a", accountId: "acc" }]);
      // The constant still applies: b was created in 2021.
      expect((await select.execute(db, ["b", "acc"])).rows).toEqual([]);
      expect((await select.execute(db, ["c", "acc"])).rows).toEqual([]);
      expect((await select.execute(db, ["c", "other"])).rows).toEqual([{ id: "c", accountId: "other" }]);
      expect(() => select.execute(db, ["a"])).toThrow(/expected 2 arguments, got 1/);
    });

    test("a sql template compiled for the dialect: an argument used twice, one unused, a constant; runs in a transaction", async () => {
      const db = await open();
      const bump = new Prepared(
        db,
        (arg) => sql<{ n: number }>`UPDATE t SET n = n + ${arg(0)} WHERE id = ${arg(1)} AND n + ${arg(0)} < ${10} RETURNING n`,
        3,
      );
      expect(bump.sql).toContain(kind === "sqlite" ? "?" : "$4");
      const n = await db.transaction().execute(async (trx) => (await bump.execute(trx, [5, "a", "ignored"])).rows);
      expect(n).toEqual([{ n: 6 }]);
      expect((await bump.execute(db, [5, "a", "ignored"])).rows).toEqual([]);
      expect(await db.selectFrom("t").select("n").where("id", "=", "a").execute()).toEqual([{ n: 6 }]);
    });

    test("writes report affected rows; arguments pass through as they are (arrays, JSON text)", async () => {
      const db = await open();
      const insert = new Prepared(
        db,
        (arg) =>
          sql`INSERT INTO t (id, account_id, created_at, n) VALUES (${arg(0)}, ${arg(1)}, ${arg(2)}, ${arg(3)}) ON CONFLICT (id) DO NOTHING`,
        4,
      );
      expect(Number((await insert.execute(db, ["d", "acc", "2022-01-01", 4])).numAffectedRows)).toBe(1);
      expect(Number((await insert.execute(db, ["d", "acc", "2022-01-01", 4])).numAffectedRows ?? 0)).toBe(0);
      const byIds = new Prepared(
        db,
        (arg) =>
          kind === "postgres"
            ? sql<{ id: string }>`SELECT id FROM t WHERE id = ANY(${arg(0)}::text[]) ORDER BY id`
            : sql<{ id: string }>`SELECT id FROM t WHERE id IN (SELECT value FROM json_each(${arg(0)})) ORDER BY id`,
        1,
      );
      const ids = ["d", "a", "zz"];
      expect((await byIds.execute(db, [kind === "postgres" ? ids : JSON.stringify(ids)])).rows).toEqual([{ id: "a" }, { id: "d" }]);
    });

    test("the statement is built once: calls cost only the statement itself", async () => {
      const db = await open();
      let builds = 0;
      const count = new Prepared(
        db,
        () => {
          builds++;
          return sql<{ c: number }>`SELECT count(*) AS c FROM t`;
        },
        0,
      );
      const before = await statementCount(f.label, "select");
      for (let i = 0; i < 3; i++) expect(Number((await count.execute(db, [])).rows[0]?.c)).toBe(3);
      expect(builds).toBe(1);
      expect((await statementCount(f.label, "select")) - before).toBe(3);
    });
  });
