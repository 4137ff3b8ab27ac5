import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { DataExit } from "../../src/cli/data.ts";
import { createReporter, LINE_INTERVAL_MS } from "../../src/kernel/storage/copy/index.ts";
import { openDatabase } from "../../src/kernel/storage/database.ts";
import { migrate } from "../../src/kernel/storage/migrate.ts";
import { sharedDatabase } from "../../src/kernel/storage/resolve.ts";
import { ACCOUNT_MIGRATIONS } from "../../src/modules/account/storage/migrations.ts";
import { freshPostgresDatabase, usePostgres } from "../helpers/databases.ts";
import { eventually, GiveUp } from "../helpers/eventually.ts";
import { ROOT } from "../helpers/topology.ts";
import { data, populate } from "./data-fixture.ts";

/**
 * `switchyard data copy` interrupted and resumed (the CLI as a child process, killed with
 * SIGKILL half way), its progress output, `--help`, usage errors and refused sources.
 */

usePostgres();

/** Rows added to the catalog's inbox so a copy in small batches takes long enough to be killed half way. */
const EXTRA_INBOX_ROWS = 4000;

/** `bun src/main.ts data ...` as a child process. */
function spawnData(...argv: string[]) {
  return Bun.spawn([process.execPath, join(ROOT, "src/main.ts"), "data", ...argv], { stdout: "pipe", stderr: "pipe", cwd: ROOT });
}

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "switchyard-resume-src-"));
  await populate("sqlite", dir);
  const catalog = openDatabase<unknown>({ kind: "sqlite", path: join(dir, "catalog.sqlite") });
  try {
    await catalog.db.transaction().execute(async (trx) => {
      for (let i = 0; i < EXTRA_INBOX_ROWS; i += 500) {
        const rows = Array.from(
          { length: 500 },
          (_, j) =>
            sql`('catalog.order-status', ${`evt-${String(i + j).padStart(6, "0")}`}, ${new Date(1_700_000_000_000 + i + j).toISOString()})`,
        );
        await sql`INSERT INTO inbox (consumer, event_id, processed_at) VALUES ${sql.join(rows)}`.execute(trx);
      }
    });
  } finally {
    await catalog.close();
  }
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("an interrupted copy", () => {
  test("killed half way (SIGKILL), rerun: resumes after the last committed batch, no duplicates, verifies clean", async () => {
    const url = await freshPostgresDatabase();
    const target = openDatabase<unknown>(sharedDatabase(url, "catalog", 2));
    try {
      const child = spawnData("copy", "--from", dir, "--to", url, "--modules", "catalog", "--batch-rows", "10", "--progress", "lines");
      let exited = false;
      void child.exited.then(() => (exited = true));
      // Half way: some inbox rows committed, not all.
      await eventually(
        "the copy half way through the inbox",
        async () => {
          if (exited) throw new GiveUp("the copy finished before it could be killed");
          const { rows } = await sql<{
            rows: number;
            done: number;
          }>`SELECT rows, done FROM switchyard_copy WHERE table_name = 'inbox'`.execute(target.db);
          const p = rows[0];
          return p !== undefined && Number(p.rows) > 0 && Number(p.rows) < EXTRA_INBOX_ROWS / 2 && Number(p.done) === 0;
        },
        { timeoutMs: 30_000, intervalMs: 5 },
      );
      child.kill("SIGKILL");
      expect(await child.exited).not.toBe(0);
      // What the target holds is exactly what the progress row says: batch and progress commit together.
      const progress = await sql<{ rows: number }>`SELECT rows FROM switchyard_copy WHERE table_name = 'inbox'`.execute(target.db);
      const copied = await sql<{ n: number }>`SELECT count(*) AS n FROM inbox`.execute(target.db);
      expect(Number(copied.rows[0]?.n)).toBe(Number(progress.rows[0]?.rows));
      expect(Number(copied.rows[0]?.n)).toBeGreaterThan(0);
      expect(Number(copied.rows[0]?.n)).toBeLessThan(EXTRA_INBOX_ROWS);

      const rerun = await data("copy", "--from", dir, "--to", url, "--modules", "catalog", "--batch-rows", "500", "--progress", "lines");
      expect(rerun.code).toBe(DataExit.ok);
      expect(rerun.stderr).toContain("catalog: resuming an interrupted copy");
      expect(rerun.stderr).toMatch(/catalog: \d+ rows to copy \(\d+ copied by an earlier run, resuming\)/);
      expect(rerun.stdout).toMatch(/catalog\s+inbox\s+(\d+)\s+\1\s+match/);
      expect(rerun.stdout).not.toContain("DIFFERENT");
      const dup = await sql<{
        n: number;
      }>`SELECT count(*) AS n FROM (SELECT consumer, event_id FROM inbox GROUP BY consumer, event_id HAVING count(*) > 1) d`.execute(
        target.db,
      );
      expect(Number(dup.rows[0]?.n)).toBe(0);
      // Done now: a third run says so (exit 4); with a module still to copy, that one is copied.
      const third = await data("copy", "--from", dir, "--to", url, "--modules", "catalog", "--progress", "none");
      expect(third.code).toBe(DataExit.targetNotEmpty);
      expect(third.stderr).toContain("catalog: already copied from");
      const more = await data("copy", "--from", dir, "--to", url, "--modules", "catalog,payment", "--progress", "none");
      expect(more.code).toBe(DataExit.ok);
      expect(more.stderr).toContain("catalog: already copied from");
      expect(more.stdout).toMatch(/payment\s+payments\s+([1-9]\d*)\s+\1\s+match/);
    } finally {
      await target.close();
    }
  }, 60_000);
});

describe("progress output", () => {
  test("not on a terminal (--progress auto): a line per table start and end", async () => {
    const url = await freshPostgresDatabase();
    const r = await data("copy", "--from", dir, "--to", url, "--modules", "payment,account");
    expect(r.code).toBe(DataExit.ok);
    const lines = r.stderr.trim().split("\n");
    expect(lines[0]).toMatch(/^payment: \d+ rows to copy$/);
    for (const t of ["payments", "payment_commands", "outbox"]) {
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^payment\\.${t}: started, 0/\\d+ rows$`)));
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^payment\\.${t}: done, \\d+ rows$`)));
    }
    expect(lines).toContain("payment: copied");
    expect(lines).toContain("account: copied");
    expect(r.stderr).not.toContain("\r");
  }, 60_000);

  test("lines: at most one progress line per table every 2 s; bar: redrawn with rows/s and ETA", () => {
    let now = 0;
    let out = "";
    const lines = createReporter("lines", { write: (s: string) => (out += s) }, () => now);
    lines.moduleStart("m", 100, 0);
    lines.tableStart("m", "t", 100, 0);
    for (let i = 1; i <= 10; i++) {
      now += 500;
      lines.rowsCopied("m", "t", i * 10, 100, 10);
    }
    lines.tableDone("m", "t", 100);
    const progress = out.split("\n").filter((l) => /rows\/s/.test(l));
    // 5 s of copying: a line at 2 s and 4 s.
    expect(progress).toEqual(["m.t: 40/100 rows, 20 rows/s, ETA 3s", "m.t: 80/100 rows, 20 rows/s, ETA 1s"]);
    expect(LINE_INTERVAL_MS).toBe(2000);

    now = 0;
    out = "";
    const bar = createReporter("bar", { write: (s: string) => (out += s) }, () => now);
    bar.moduleStart("catalog", 1000, 200);
    bar.tableStart("catalog", "products", 1000, 200);
    now = 2000;
    bar.rowsCopied("catalog", "products", 400, 1000, 200);
    expect(out.split("\r").at(-1)).toBe("\x1b[2Kcatalog [##########--------------] 400/1000 rows  100 rows/s  ETA 6s  products");
    bar.moduleDone("catalog");
    expect(out.endsWith("\n")).toBe(true);
  });
});

describe("command line", () => {
  test("--help (exit 0), usage errors (exit 2)", async () => {
    const help = spawnData("--help");
    expect(await help.exited).toBe(0);
    const text = await new Response(help.stdout).text();
    expect(text).toContain("switchyard data copy   --from <src> --to <dst>");
    expect(text).toContain("4 target not empty");
    for (const argv of [
      ["copy", "--from", dir],
      ["copy", "--to", dir],
      ["move"],
      ["copy", "--from", dir, "--to", "/tmp/x", "--modules", "nope"],
      ["copy", "--from", dir, "--to", "/tmp/x", "--batch-rows", "0"],
      ["copy", "--from", dir, "--to", dir],
    ]) {
      const r = await data(...argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: DataExit.usage });
      expect(r.stderr).toContain("switchyard data --help");
    }
  });

  test("verify against a target nothing was copied to: an error (exit 1) saying so", async () => {
    const url = await freshPostgresDatabase();
    const r = await data("verify", "--from", dir, "--to", url, "--modules", "account");
    expect(r.code).toBe(DataExit.error);
    expect(r.stderr).toContain("has no account tables (nothing copied there)");
  });

  test("a missing SQLite source is an error (exit 1) and is not created", async () => {
    const empty = mkdtempSync(join(tmpdir(), "switchyard-nosrc-"));
    const to = mkdtempSync(join(tmpdir(), "switchyard-nodst-"));
    try {
      const r = await data("copy", "--from", empty, "--to", to, "--modules", "account");
      expect(r.code).toBe(DataExit.error);
      expect(r.stderr).toContain(`account: source database ${join(empty, "account.sqlite")} does not exist`);
      expect(existsSync(join(empty, "account.sqlite"))).toBe(false);
    } finally {
      rmSync(empty, { recursive: true, force: true });
      rmSync(to, { recursive: true, force: true });
    }
  });

  test("a source behind the code's migrations is refused (exit 1): run --migrate on it first; it is not migrated", async () => {
    const old = mkdtempSync(join(tmpdir(), "switchyard-oldsrc-"));
    try {
      const src = openDatabase<unknown>({ kind: "sqlite", path: join(old, "account.sqlite") });
      await migrate(src, ACCOUNT_MIGRATIONS.slice(0, 2));
      await src.close();
      const r = await data("copy", "--from", old, "--to", await freshPostgresDatabase(), "--modules", "account");
      expect(r.code).toBe(DataExit.error);
      expect(r.stderr).toContain("lacks migrations 3: run `switchyard --migrate` against it first");
      const again = openDatabase<unknown>({ kind: "sqlite", path: join(old, "account.sqlite") });
      const { rows } = await sql<{ version: number }>`SELECT version FROM schema_migrations`.execute(again.db);
      await again.close();
      expect(rows.map((r) => Number(r.version))).toEqual([1, 2]);
    } finally {
      rmSync(old, { recursive: true, force: true });
    }
  });
});
