import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { DataExit } from "../../src/cli/data.ts";
import { openDatabase } from "../../src/kernel/storage/database.ts";
import { freshPostgresDatabase, usePostgres } from "../helpers/databases.ts";
import { at, data, populate } from "./data-fixture.ts";

/**
 * Edges of `switchyard data copy`: PostgreSQL microseconds, `--replace` when another module is
 * refused, identity sequences after a copy killed before setting them, and passwords of URLs
 * the URL parser refuses.
 */

usePostgres();

const dirs: string[] = [];
const tempDir = (prefix: string): string => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** One statement on module `m`'s database at `where`; its rows. */
async function query<R>(where: string, m: string, q: ReturnType<typeof sql<R>>): Promise<R[]> {
  const mdb = openDatabase<unknown>(at(where, m));
  try {
    return (await q.execute(mdb.db)).rows;
  } finally {
    await mdb.close();
  }
}

describe("timestamps", () => {
  test("PostgreSQL → PostgreSQL keeps microseconds and compares them; PostgreSQL → SQLite keeps milliseconds and verifies", async () => {
    const src = (await populate("postgres")).postgresUrl as string;
    await query(src, "payment", sql`UPDATE payment_commands SET created_at = '2026-01-02 03:04:05.123456+00'`);

    const pg = await freshPostgresDatabase();
    const r = await data("copy", "--from", src, "--to", pg, "--modules", "payment", "--progress", "none");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(DataExit.ok);
    const copied = await query<{ t: string }>(
      pg,
      "payment",
      sql`SELECT DISTINCT to_char(created_at AT TIME ZONE 'UTC', 'HH24:MI:SS.US') AS t FROM payment_commands`,
    );
    expect(copied.map((x) => x.t)).toEqual(["03:04:05.123456"]);
    // One microsecond off is a difference.
    await query(pg, "payment", sql`UPDATE payment_commands SET created_at = '2026-01-02 03:04:05.123457+00'`);
    const v = await data("verify", "--from", src, "--to", pg, "--modules", "payment");
    expect(v.code).toBe(DataExit.different);
    expect(v.stdout).toMatch(/payment\s+payment_commands\s+(\d+)\s+\1\s+DIFFERENT/);

    const dir = tempDir("switchyard-edges-sqlite-");
    const back = await data("copy", "--from", src, "--to", dir, "--modules", "payment", "--progress", "none");
    expect(back.code).toBe(DataExit.ok);
    const onSqlite = await query<{ created_at: string }>(dir, "payment", sql`SELECT DISTINCT created_at FROM payment_commands`);
    expect(onSqlite.map((x) => x.created_at)).toEqual(["2026-01-02T03:04:05.123Z"]);
  }, 90_000);
});

describe("--replace", () => {
  test("a module refused by its checks leaves every other module's target untouched", async () => {
    const src = tempDir("switchyard-edges-src-");
    await populate("sqlite", src);
    const dst = tempDir("switchyard-edges-dst-");
    expect((await data("copy", "--from", src, "--to", dst, "--progress", "none")).code).toBe(DataExit.ok);
    const before = await query<{ n: number }>(dst, "account", sql`SELECT count(*) AS n FROM accounts`);
    expect(Number(before[0]?.n)).toBeGreaterThan(0);

    // The same source without its catalog file: the catalog is refused.
    const partial = tempDir("switchyard-edges-partial-");
    cpSync(src, partial, { recursive: true, filter: (p) => !p.includes("catalog.sqlite") });
    const r = await data("copy", "--from", partial, "--to", dst, "--replace", "--progress", "none");
    expect(r.code).toBe(DataExit.error);
    expect(r.stderr).toContain("nothing copied");
    const after = await query<{ n: number }>(dst, "account", sql`SELECT count(*) AS n FROM accounts`);
    expect(Number(after[0]?.n)).toBe(Number(before[0]?.n));
  }, 90_000);
});

describe("identity sequences", () => {
  test("a copy killed after its last batch but before the sequences were set: the rerun sets them (new rows get new ids)", async () => {
    const src = tempDir("switchyard-edges-ident-");
    await populate("sqlite", src);
    const pg = await freshPostgresDatabase();
    expect((await data("copy", "--from", src, "--to", pg, "--modules", "order", "--progress", "none")).code).toBe(DataExit.ok);
    // What such a kill leaves: every table done, the sequence where the copy found it.
    await query(pg, "order", sql`SELECT setval(pg_get_serial_sequence('outbox', 'seq'), 1, false)`);
    const rerun = await data("copy", "--from", src, "--to", pg, "--modules", "order", "--progress", "none");
    expect(rerun.code).toBe(DataExit.targetNotEmpty);
    expect(rerun.stderr).toContain("order: already copied from");
    const [max] = await query<{ m: number }>(pg, "order", sql`SELECT max(seq) AS m FROM outbox`);
    const [row] = await query<{ seq: number }>(
      pg,
      "order",
      sql`INSERT INTO outbox (event_id, subject, payload, created_at) VALUES ('evt-after-copy', 'order.created', '{}', now()) RETURNING seq`,
    );
    expect(Number(row?.seq)).toBeGreaterThan(Number(max?.m));
  }, 90_000);
});

describe("passwords", () => {
  test("a PostgreSQL URL the URL parser refuses (a bad port) is named without its password", async () => {
    const r = await data("verify", "--from", "/nonexistent", "--to", "postgres://app:s3cr3t@db.example:99999/shop");
    expect(r.code).not.toBe(DataExit.ok);
    expect(r.stderr).toContain("postgres://app:***@db.example:99999/shop");
    expect(r.stderr).not.toContain("s3cr3t");
  });
});
