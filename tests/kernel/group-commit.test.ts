import { afterEach, beforeEach, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { context, createContextKey } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { GroupCommit } from "../../src/kernel/storage/group-commit.ts";

let db: Database;
let transactions: number;
const rows = (): number[] =>
  db
    .query<{ x: number }, []>("SELECT x FROM t ORDER BY x")
    .all()
    .map((r) => r.x);

beforeEach(() => {
  db = new Database(":memory:", { strict: true });
  db.exec("CREATE TABLE t (x INTEGER PRIMARY KEY)");
  transactions = 0;
  const original = db.transaction.bind(db);
  // Counts outer transactions only (savepoints are the nested ones made at construction).
  db.transaction = ((fn: (...args: never[]) => unknown) => {
    const tx = original(fn);
    const wrapped = (...a: never[]): unknown => tx(...a);
    return Object.assign(wrapped, { immediate: (...a: never[]): unknown => (transactions++, tx.immediate(...a)) });
  }) as unknown as typeof db.transaction;
});
afterEach(() => db.close());

test("writes of one turn share one transaction; results resolve in order after the commit", async () => {
  const batch = new GroupCommit(db, (x: number) => (db.query("INSERT INTO t (x) VALUES (?)").run(x), x * 10));
  const results = await Promise.all([1, 2, 3].map((x) => batch.submit(x)));
  expect(results).toEqual([10, 20, 30]);
  expect(rows()).toEqual([1, 2, 3]);
  expect(transactions).toBe(1);
  await batch.submit(4);
  expect(transactions).toBe(2);
});

test("a failing write rolls back alone and rejects with its error; a later write sees the earlier ones", async () => {
  const batch = new GroupCommit(db, (x: number) => {
    db.query("INSERT INTO t (x) VALUES (?)").run(x);
    if (x === 2) throw new Error("refused 2");
    return db.query<{ n: number }, []>("SELECT count(*) AS n FROM t").get()?.n;
  });
  const settled = await Promise.allSettled([1, 2, 3].map((x) => batch.submit(x)));
  expect(settled[0]).toEqual({ status: "fulfilled", value: 1 });
  expect(settled[1]?.status).toBe("rejected");
  expect((settled[1] as PromiseRejectedResult).reason.message).toBe("refused 2");
  expect(settled[2]).toEqual({ status: "fulfilled", value: 2 });
  expect(rows()).toEqual([1, 3]);
});

test("a constraint violation of one write (a duplicate) does not cost the others", async () => {
  const batch = new GroupCommit(db, (x: number) => void db.query("INSERT INTO t (x) VALUES (?)").run(x));
  const settled = await Promise.allSettled([5, 5, 6].map((x) => batch.submit(x)));
  expect(settled.map((s) => s.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
  expect(rows()).toEqual([5, 6]);
});

test("when the transaction cannot begin (another connection holds the write lock), every write rejects and nothing is written", async () => {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-group-commit-"));
  const file = new Database(join(dir, "g.sqlite"), { create: true, strict: true });
  const other = new Database(join(dir, "g.sqlite"), { strict: true });
  try {
    file.exec("PRAGMA journal_mode = WAL");
    file.exec("PRAGMA busy_timeout = 0");
    file.exec("CREATE TABLE t (x INTEGER PRIMARY KEY)");
    const batch = new GroupCommit(file, (x: number) => void file.query("INSERT INTO t (x) VALUES (?)").run(x));
    other.exec("BEGIN IMMEDIATE");
    const settled = await Promise.allSettled([7, 8].map((x) => batch.submit(x)));
    other.exec("ROLLBACK");
    expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected"]);
    expect(file.query<{ n: number }, []>("SELECT count(*) AS n FROM t").get()?.n).toBe(0);
    // The next batch commits normally.
    await batch.submit(9);
    expect(file.query<{ n: number }, []>("SELECT count(*) AS n FROM t").get()?.n).toBe(1);
  } finally {
    other.close();
    file.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a write after which SQLite rolled the whole transaction back aborts the batch: all reject, nothing is written", async () => {
  // Stands for SQLITE_FULL / IOERR / NOMEM / INTERRUPT, after which SQLite has rolled the
  // transaction back itself: later writes must not autocommit one by one.
  const batch = new GroupCommit(db, (x: number) => {
    db.query("INSERT INTO t (x) VALUES (?)").run(x);
    if (x === 2) {
      db.exec("ROLLBACK");
      throw new Error("disk full");
    }
  });
  const settled = await Promise.allSettled([1, 2, 3].map((x) => batch.submit(x)));
  expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected", "rejected"]);
  expect(rows()).toEqual([]);
  await batch.submit(4);
  expect(rows()).toEqual([4]);
});

test("each write runs in the OpenTelemetry context of its submit call (its own request's trace)", async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const key = createContextKey("request");
  const seen: unknown[] = [];
  const batch = new GroupCommit(db, (x: number) => void seen.push(`${x}:${String(context.active().getValue(key))}`));
  await Promise.all([1, 2, 3].map((x) => context.with(context.active().setValue(key, `r${x}`), () => batch.submit(x))));
  expect(seen).toEqual(["1:r1", "2:r2", "3:r3"]);
});
