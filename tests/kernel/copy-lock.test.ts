import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CopyError } from "../../src/kernel/storage/copy/errors.ts";
import { lockCopyTarget } from "../../src/kernel/storage/copy/lock.ts";
import { ensureSchema, sharedDatabase } from "../../src/kernel/storage/resolve.ts";
import { freshPostgresDatabase, usePostgres } from "../helpers/databases.ts";

/** Two copies into one target: the second is refused while the first holds the target's lock. */

usePostgres();

const dir = mkdtempSync(join(tmpdir(), "switchyard-copy-lock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the copy target's lock", () => {
  test("PostgreSQL: a second lock of the same module schema is refused until the first is released; other modules are not", async () => {
    const url = await freshPostgresDatabase();
    const catalog = sharedDatabase(url, "catalog", 1);
    await ensureSchema(catalog);
    await ensureSchema(sharedDatabase(url, "order", 1));
    const first = await lockCopyTarget(catalog, "catalog");
    try {
      const second = lockCopyTarget(catalog, "catalog");
      await expect(second).rejects.toBeInstanceOf(CopyError);
      await expect(second).rejects.toThrow(/catalog: another data copy into .* is running/);
      const other = await lockCopyTarget(sharedDatabase(url, "order", 1), "order");
      await other.release();
    } finally {
      await first.release();
    }
    // Released (the lock's connection ended): taken again.
    const again = await lockCopyTarget(catalog, "catalog");
    await again.release();
  });

  test("SQLite: a lock file refuses a second copy while its copier runs, is removed on release, and is taken over from a killed copier", async () => {
    const target = { kind: "sqlite" as const, path: join(dir, "nested", "catalog.sqlite") };
    const first = await lockCopyTarget(target, "catalog");
    expect(existsSync(`${target.path}.copy-lock`)).toBe(true);
    await expect(lockCopyTarget(target, "catalog")).rejects.toThrow(/another data copy into sqlite:.*catalog\.sqlite is running/);
    await first.release();
    expect(existsSync(`${target.path}.copy-lock`)).toBe(false);

    // A copier that was killed leaves its file with a pid that no longer runs.
    const dead = Bun.spawnSync([process.execPath, "-e", "process.exit(0)"]).pid;
    writeFileSync(`${target.path}.copy-lock`, String(dead));
    const taken = await lockCopyTarget(target, "catalog");
    await taken.release();
  });
});
