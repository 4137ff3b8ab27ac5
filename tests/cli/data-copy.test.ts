import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { DataExit } from "../../src/cli/data.ts";
import { openDatabase } from "../../src/kernel/storage/database.ts";
import { freshPostgresDatabase, usePostgres } from "../helpers/databases.ts";
import { at, data, dumpTable, expectSameRows, expectSearchWorks, MODULE_NAMES, populate, TABLES } from "./data-fixture.ts";

/**
 * `switchyard data copy|verify` on real databases, both directions: every row of every table of
 * the four modules equal on both sides, identity sequences continued, catalog search working on
 * the target (its derived search state rebuilt by the target's triggers), a non-empty target
 * refused, `--replace`, and the verification catching a changed value and a missing row.
 */

usePostgres();

describe("data copy SQLite → PostgreSQL", () => {
  let dir: string;
  let url: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "switchyard-copy-src-"));
    await populate("sqlite", dir);
    url = await freshPostgresDatabase();
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("copies every row of the four modules exactly, verifies, continues identities, search works", async () => {
    const r = await data("copy", "--from", dir, "--to", url, "--progress", "none");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(DataExit.ok);
    expect(r.stdout).toContain("module   table");
    expect(r.stdout).not.toContain("DIFFERENT");
    for (const m of MODULE_NAMES) for (const t of TABLES[m]) expect(r.stdout).toMatch(new RegExp(`${m}\\s+${t}\\s+\\d+\\s+\\d+\\s+match`));
    await expectSameRows(dir, url);

    // New rows continue after the copied ones on every identity column (outbox, orders, payments).
    const order = openDatabase<unknown>(at(url, "order"));
    try {
      const max = await sql<{ m: number }>`SELECT max(seq) AS m FROM outbox`.execute(order.db);
      const ins = await sql<{ seq: number }>`INSERT INTO outbox (event_id, subject, payload, created_at)
        VALUES ('after-copy', 'order.created', '{}', now()) RETURNING seq`.execute(order.db);
      expect(Number(ins.rows[0]?.seq)).toBe(Number(max.rows[0]?.m) + 1);
      const maxOrder = await sql<{ m: number }>`SELECT max(seq) AS m FROM orders`.execute(order.db);
      const o = await sql<{ seq: number }>`INSERT INTO orders (id, account_id, status, total_cents, currency, created_at)
        VALUES ('after-copy', 'a', 'PENDING', 1, 'USD', now()) RETURNING seq`.execute(order.db);
      expect(Number(o.rows[0]?.seq)).toBe(Number(maxOrder.rows[0]?.m) + 1);
      await sql`DELETE FROM orders WHERE id = 'after-copy'`.execute(order.db);
      await sql`DELETE FROM outbox WHERE event_id = 'after-copy'`.execute(order.db);
    } finally {
      await order.close();
    }
    await expectSearchWorks({ kind: "postgres", url });
    // search_state: the triggers counted exactly the copied products.
    const catalog = openDatabase<unknown>(at(url, "catalog"));
    try {
      const s = await sql<{ products: number; n: number }>`SELECT products, (SELECT count(*) FROM products) AS n FROM search_state`.execute(
        catalog.db,
      );
      expect(Number(s.rows[0]?.products)).toBe(Number(s.rows[0]?.n));
      // search_terms: the triggers counted every prefix of the copied products exactly (a
      // recount from the products' search vectors).
      const wrong = await sql<{ prefix: string }>`
        WITH counted AS (SELECT t.prefix, count(*) AS n FROM products p, catalog_search_terms(p.search) AS t(prefix) GROUP BY t.prefix)
        SELECT coalesce(s.prefix, c.prefix) AS prefix FROM search_terms s FULL JOIN counted c ON c.prefix = s.prefix
        WHERE s.docs IS DISTINCT FROM c.n`.execute(catalog.db);
      expect(wrong.rows).toEqual([]);
      const kept = await sql<{ n: number }>`SELECT count(*)::int AS n FROM search_terms`.execute(catalog.db);
      expect(Number(kept.rows[0]?.n)).toBeGreaterThan(0);
    } finally {
      await catalog.close();
    }
  }, 60_000);

  test("a finished copy is not copied again (exit 4); --replace copies it anew", async () => {
    const again = await data("copy", "--from", dir, "--to", url, "--progress", "none");
    expect(again.code).toBe(DataExit.targetNotEmpty);
    expect(again.stderr).toContain("account: already copied from");
    const replaced = await data("copy", "--from", dir, "--to", url, "--replace", "--progress", "none");
    expect(replaced.code).toBe(DataExit.ok);
    expect(replaced.stderr).toContain("catalog: target emptied (--replace)");
    await expectSameRows(dir, url);
  }, 60_000);

  test("verify finds a changed value and a missing row (exit 3)", async () => {
    expect((await data("verify", "--from", dir, "--to", url)).code).toBe(DataExit.ok);
    const payment = openDatabase<unknown>(at(url, "payment"));
    try {
      await sql`UPDATE payments SET amount_cents = amount_cents + 1 WHERE seq = (SELECT min(seq) FROM payments)`.execute(payment.db);
      const changed = await data("verify", "--from", dir, "--to", url, "--modules", "payment");
      expect(changed.code).toBe(DataExit.different);
      expect(changed.stdout).toMatch(/payment\s+payments\s+(\d+)\s+\1\s+DIFFERENT/);
      expect(changed.stdout).toMatch(/payment\s+payment_commands\s+\d+\s+\d+\s+match/);
      expect(changed.stderr).toContain("verification found differences in payment.payments");
      await sql`UPDATE payments SET amount_cents = amount_cents - 1 WHERE seq = (SELECT min(seq) FROM payments)`.execute(payment.db);
      expect((await data("verify", "--from", dir, "--to", url, "--modules", "payment")).code).toBe(DataExit.ok);
      await sql`DELETE FROM payment_commands WHERE idempotency_key = (SELECT min(idempotency_key) FROM payment_commands)`.execute(
        payment.db,
      );
      const missing = await data("verify", "--from", dir, "--to", url, "--modules", "payment");
      expect(missing.code).toBe(DataExit.different);
      const m = /payment\s+payment_commands\s+(\d+)\s+(\d+)\s+DIFFERENT/.exec(missing.stdout);
      expect(Number(m?.[2])).toBe(Number(m?.[1]) - 1);
    } finally {
      await payment.close();
    }
  }, 60_000);

  test("a target with other data is refused (exit 4), nothing written", async () => {
    const other = await populate("postgres");
    const before = await dumpTable(other.database("account"), "accounts", ["id", "email"]);
    const r = await data("copy", "--from", dir, "--to", other.postgresUrl as string, "--progress", "none");
    expect(r.code).toBe(DataExit.targetNotEmpty);
    expect(r.stderr).toContain("account: the target already has data (tables accounts, outbox, sessions, refresh_tokens)");
    expect(await dumpTable(other.database("account"), "accounts", ["id", "email"])).toEqual(before);
  }, 60_000);
});
