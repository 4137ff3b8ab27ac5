import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import { DataExit } from "../../src/cli/data.ts";
import { type CopyReporter, prepareModuleCopy, SILENT, verifyModule } from "../../src/kernel/storage/copy/index.ts";
import { MODULE_DEFINITIONS } from "../../src/module-list.ts";
import { freshPostgresDatabase, usePostgres } from "../helpers/databases.ts";
import { at, data, dumpTable, expectSameRows, expectSearchWorks, populate } from "./data-fixture.ts";

/**
 * `switchyard data copy` from PostgreSQL to SQLite (every row equal, catalog search working on
 * the SQLite target), and the source's snapshot: rows a running monolith writes during the copy
 * are not copied and the verification reports them. (SQLite → PostgreSQL: data-copy.test.ts.)
 */

usePostgres();

describe("data copy PostgreSQL → SQLite", () => {
  test("copies every row exactly and verifies; search works on the SQLite target", async () => {
    const src = await populate("postgres");
    const url = src.postgresUrl as string;
    const dir = mkdtempSync(join(tmpdir(), "switchyard-copy-dst-"));
    try {
      const r = await data("copy", "--from", url, "--to", `sqlite:${dir}`, "--progress", "none");
      expect(r.stderr).toBe("");
      expect(r.code).toBe(DataExit.ok);
      expect(r.stdout).not.toContain("DIFFERENT");
      await expectSameRows(url, dir);
      await expectSearchWorks({ kind: "sqlite", dir });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("a source written during the copy", () => {
  test("SQLite: the copy reads one snapshot (writers not blocked); the rows written meanwhile are not copied and verification says so", async () => {
    const dir = mkdtempSync(join(tmpdir(), "switchyard-live-src-"));
    const url = await freshPostgresDatabase();
    try {
      await populate("sqlite", dir);
      const source = at(dir, "account");
      const target = at(url, "account");
      const writer = new Database(join(dir, "account.sqlite"));
      writer.exec("PRAGMA busy_timeout = 2000");
      const storage = MODULE_DEFINITIONS.account.storage;
      if (!storage) throw new Error("account declares no storage");
      let wrote = false;
      const reporter: CopyReporter = {
        ...SILENT,
        // After the first table, a running monolith writes: a new account and an event of it.
        tableDone(_m, table) {
          if (table !== "accounts" || wrote) return;
          wrote = true;
          writer.run(
            "INSERT INTO accounts (id, name, email, password_hash, roles, created_at) VALUES ('late', 'Late', 'late@example.com', 'x', '[\"customer\"]', ?)",
            [new Date().toISOString()],
          );
          writer.run("INSERT INTO outbox (event_id, subject, payload, created_at) VALUES ('late-evt', 'account.registered', '{}', ?)", [
            new Date().toISOString(),
          ]);
        },
      };
      const copy = await prepareModuleCopy({ module: "account", storage, source, target }, { replace: false, batchRows: 2, reporter });
      try {
        await copy.run();
      } finally {
        await copy.close();
      }
      writer.close();
      expect(wrote).toBe(true);
      const rows = await verifyModule("account", storage, source, target, 100);
      const byTable = Object.fromEntries(rows.map((r) => [r.table, { source: r.source.rows, target: r.target.rows, match: r.match }]));
      expect(byTable["accounts"]?.match).toBe(false);
      expect(byTable["accounts"]?.source).toBe((byTable["accounts"]?.target ?? 0) + 1);
      expect(byTable["outbox"]?.match).toBe(false);
      expect(byTable["outbox"]?.source).toBe((byTable["outbox"]?.target ?? 0) + 1);
      expect(byTable["sessions"]?.match).toBe(true);
      expect(await dumpTable(target, "accounts", ["id"])).not.toContainEqual(JSON.stringify([["id", "late"]]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
