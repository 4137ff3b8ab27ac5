import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqlite, WAL_AUTOCHECKPOINT_PAGES, type Database } from "../../src/kernel/storage/sqlite.ts";

let dir: string | undefined;
let db: Database | undefined;
afterEach(() => {
  db?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  db = dir = undefined;
});

test("openSqlite: WAL, synchronous NORMAL, foreign keys, and the larger autocheckpoint", () => {
  dir = mkdtempSync(join(tmpdir(), "switchyard-sqlite-settings-"));
  db = openSqlite(join(dir, "m.sqlite"));
  const pragma = (name: string): unknown => Object.values(db!.query(`PRAGMA ${name}`).get() as Record<string, unknown>)[0];
  expect(pragma("journal_mode")).toBe("wal");
  expect(pragma("synchronous")).toBe(1); // NORMAL
  expect(pragma("foreign_keys")).toBe(1);
  expect(pragma("wal_autocheckpoint")).toBe(WAL_AUTOCHECKPOINT_PAGES);
});
