import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
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

  test("SQLite: a second copy is refused while the first holds the lock, in this process or another; a killed holder's lock is free again", async () => {
    const target = { kind: "sqlite" as const, path: join(dir, "nested", "catalog.sqlite") };
    const first = await lockCopyTarget(target, "catalog");
    await expect(lockCopyTarget(target, "catalog")).rejects.toThrow(/another data copy into sqlite:.*catalog\.sqlite is running/);
    await first.release();
    const again = await lockCopyTarget(target, "catalog");
    await again.release();

    // Another process takes the lock and is killed while holding it.
    const holder = Bun.spawn(
      [
        process.execPath,
        "-e",
        `const { lockCopyTarget } = await import(${JSON.stringify(join(import.meta.dir, "../../src/kernel/storage/copy/lock.ts"))});
         await lockCopyTarget(${JSON.stringify(target)}, "catalog");
         console.log("locked");
         setInterval(() => {}, 1000);`,
      ],
      { stdout: "pipe" },
    );
    const reader = holder.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain("locked");
    await expect(lockCopyTarget(target, "catalog")).rejects.toThrow(/another data copy/);
    holder.kill("SIGKILL");
    await holder.exited;
    const taken = await lockCopyTarget(target, "catalog");
    await taken.release();
  });
});
