import { afterEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { context, createContextKey } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { sql, type Transaction } from "kysely";
import { GroupCommitter } from "../../src/kernel/storage/group-committer.ts";
import { migrate } from "../../src/kernel/storage/migrate.ts";
import { DATABASES, usePostgres } from "../helpers/databases.ts";
import { type FreshDb, freshDb, statementCount } from "./storage-fixture.ts";

usePostgres();

interface Tables {
  t: { x: number };
  p: { id: number };
  c: { id: number; p: number };
}

for (const kind of DATABASES) {
  describe(`group commit [${kind}]`, () => {
    let f: FreshDb<Tables>;
    afterEach(async () => f?.close());

    const open = async (): Promise<GroupCommitter<Tables>> => {
      f = await freshDb<Tables>(kind);
      await migrate(f.mdb, [
        {
          version: 1,
          name: "t",
          up: "CREATE TABLE t (x integer PRIMARY KEY); CREATE TABLE p (id integer PRIMARY KEY); CREATE TABLE c (id integer PRIMARY KEY, p integer NOT NULL REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED)",
        },
      ]);
      return new GroupCommitter(f.mdb.db);
    };
    const rows = async (): Promise<number[]> => (await f.mdb.db.selectFrom("t").select("x").orderBy("x").execute()).map((r) => r.x);
    const insert = (x: number) => async (trx: Transaction<Tables>) => void (await trx.insertInto("t").values({ x }).execute());

    test("writes of one turn share one transaction; results resolve in order after the commit", async () => {
      const g = await open();
      const begins = () => statementCount(f.label, "begin");
      const before = await begins();
      const results = await Promise.all(
        [1, 2, 3].map((x) =>
          g.submit(async (trx) => {
            await trx.insertInto("t").values({ x }).execute();
            return x * 10;
          }),
        ),
      );
      expect(results).toEqual([10, 20, 30]);
      expect(await rows()).toEqual([1, 2, 3]);
      expect((await begins()) - before).toBe(1);
      await g.submit(insert(4));
      expect((await begins()) - before).toBe(2);
    });

    test("a lone write runs in its own transaction without a savepoint; if it throws, nothing is written", async () => {
      const g = await open();
      const savepoints = () => statementCount(f.label, "other");
      const before = await savepoints();
      await g.submit(insert(1));
      expect((await savepoints()) - before).toBe(0);
      await expect(
        g.submit(async (trx) => {
          await trx.insertInto("t").values({ x: 2 }).execute();
          throw new Error("refused alone");
        }),
      ).rejects.toThrow("refused alone");
      expect(await rows()).toEqual([1]);
      // Two writes of one turn: each in its savepoint (SAVEPOINT + RELEASE).
      await Promise.all([g.submit(insert(3)), g.submit(insert(4))]);
      expect((await savepoints()) - before).toBe(4);
      expect(await rows()).toEqual([1, 3, 4]);
    });

    test("a failing write rolls back alone and rejects with its error; a later write sees the earlier ones", async () => {
      const g = await open();
      const write = (x: number) => async (trx: Transaction<Tables>) => {
        await trx.insertInto("t").values({ x }).execute();
        if (x === 2) throw new Error("refused 2");
        const { n } = await trx
          .selectFrom("t")
          .select((eb) => eb.fn.countAll<number>().as("n"))
          .executeTakeFirstOrThrow();
        return Number(n);
      };
      const settled = await Promise.allSettled([1, 2, 3].map((x) => g.submit(write(x))));
      expect(settled[0]).toEqual({ status: "fulfilled", value: 1 });
      expect(settled[1]?.status).toBe("rejected");
      expect((settled[1] as PromiseRejectedResult).reason.message).toBe("refused 2");
      expect(settled[2]).toEqual({ status: "fulfilled", value: 2 });
      expect(await rows()).toEqual([1, 3]);
    });

    test("a constraint violation of one write (a duplicate) does not cost the others", async () => {
      const g = await open();
      const settled = await Promise.allSettled([5, 5, 6].map((x) => g.submit(insert(x))));
      expect(settled.map((s) => s.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      expect(await rows()).toEqual([5, 6]);
    });

    test("a COMMIT that fails (deferred foreign key) rejects every write of the batch and writes nothing; the next batch commits", async () => {
      const g = await open();
      const settled = await Promise.allSettled([
        g.submit(insert(1)),
        g.submit(async (trx) => void (await trx.insertInto("c").values({ id: 1, p: 42 }).execute())),
      ]);
      expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected"]);
      expect(String((settled[0] as PromiseRejectedResult).reason)).toMatch(/foreign key/i);
      expect(await rows()).toEqual([]);
      await g.submit(insert(9));
      expect(await rows()).toEqual([9]);
    });

    test("a write after which the database ended the whole transaction aborts the batch: all reject, nothing is written", async () => {
      // Stands for SQLITE_FULL / IOERR or a lost PostgreSQL connection: the transaction is gone,
      // so later writes must not run (or autocommit) outside it.
      const g = await open();
      const write = (x: number) => async (trx: Transaction<Tables>) => {
        await trx.insertInto("t").values({ x }).execute();
        if (x === 2) {
          await sql`ROLLBACK`.execute(trx);
          throw new Error("disk full");
        }
      };
      const settled = await Promise.allSettled([1, 2, 3].map((x) => g.submit(write(x))));
      expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected", "rejected"]);
      expect((settled[0] as PromiseRejectedResult).reason.message).toBe("disk full");
      expect(await rows()).toEqual([]);
      await g.submit(insert(4));
      expect(await rows()).toEqual([4]);
    });

    test("each write runs in the OpenTelemetry context of its submit call (its own request's trace)", async () => {
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
      const g = await open();
      const key = createContextKey("request");
      const seen: string[] = [];
      const write = (x: number) => async (trx: Transaction<Tables>) => {
        await trx.insertInto("t").values({ x }).execute();
        // After an await: the context must survive the write's own statements.
        seen.push(`${x}:${String(context.active().getValue(key))}`);
      };
      await Promise.all([1, 2, 3].map((x) => context.with(context.active().setValue(key, `r${x}`), () => g.submit(write(x)))));
      expect(seen).toEqual(["1:r1", "2:r2", "3:r3"]);
    });

    test("one batch at a time: writes submitted during a batch start only after it committed, as one next batch", async () => {
      const g = await open();
      const before = await statementCount(f.label, "begin");
      const log: string[] = [];
      const later: Promise<unknown>[] = [];
      const first = g.submit(async (trx) => {
        log.push("w1");
        // Submitted while this batch runs (not awaited here: that would wait for this very batch).
        for (const x of [2, 3]) {
          later.push(
            g.submit(async (t2) => {
              log.push(`w${x}`);
              await t2.insertInto("t").values({ x }).execute();
            }),
          );
        }
        await trx.insertInto("t").values({ x: 1 }).execute();
        // Give a concurrent batch every chance to start (it would on PostgreSQL's second connection).
        await new Promise((r) => setTimeout(r, 50));
        await sql`SELECT 1`.execute(trx);
        log.push("w1 done");
      });
      await first.then(() => log.push("batch 1 committed"));
      await Promise.all(later);
      expect(log).toEqual(["w1", "w1 done", "batch 1 committed", "w2", "w3"]);
      // Two batches: the first, then both writes submitted during it.
      expect((await statementCount(f.label, "begin")) - before).toBe(2);
      expect(await rows()).toEqual([1, 2, 3]);
    });

    test("a write queued behind a running batch still runs in the OpenTelemetry context of its own submit call", async () => {
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
      const g = await open();
      const key = createContextKey("request");
      const seen: string[] = [];
      const write = (x: number) => async (trx: Transaction<Tables>) => {
        await trx.insertInto("t").values({ x }).execute();
        seen.push(`${x}:${String(context.active().getValue(key))}`);
      };
      const inContext = (x: number) => context.with(context.active().setValue(key, `r${x}`), () => g.submit(write(x)));
      const first = inContext(1);
      // The first batch has started (its BEGIN is on its way): these two wait for the next one.
      await new Promise((r) => setImmediate(r));
      await Promise.all([first, inContext(2), inContext(3)]);
      expect(seen).toEqual(["1:r1", "2:r2", "3:r3"]);
    });

    if (kind === "sqlite")
      test("when the transaction cannot begin (another connection holds the write lock), every write rejects and nothing is written; the next batch commits", async () => {
        const g = await open();
        // Fail at once instead of waiting busy_timeout (the wait would block the event loop).
        await sql`PRAGMA busy_timeout = 0`.execute(f.mdb.db);
        const other = new Database(f.config.kind === "sqlite" ? f.config.path : "", { strict: true });
        try {
          other.exec("BEGIN IMMEDIATE");
          const settled = await Promise.allSettled([7, 8].map((x) => g.submit(insert(x))));
          other.exec("ROLLBACK");
          expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected"]);
          expect(String((settled[0] as PromiseRejectedResult).reason)).toMatch(/locked|busy/i);
          expect(await rows()).toEqual([]);
          await g.submit(insert(9));
          expect(await rows()).toEqual([9]);
        } finally {
          other.close();
        }
      });

    if (kind === "postgres") {
      test("a row-lock cycle with another transaction does not hang the batch: one side fails with a deadlock, the other writes commit", async () => {
        const g = await open();
        await f.mdb.db
          .insertInto("t")
          .values([{ x: 1 }, { x: 2 }])
          .execute();
        const other = f.another();
        const lock = (trx: Transaction<Tables>, x: number) => sql`SELECT x FROM t WHERE x = ${x} FOR UPDATE`.execute(trx);
        let otherHolds!: () => void;
        const holding = new Promise<void>((r) => (otherHolds = r));
        let batchHolds!: () => void;
        const batchHolding = new Promise<void>((r) => (batchHolds = r));
        // Another transaction: locks row 2, then (once the batch holds row 1) wants row 1.
        const outside = other.db
          .transaction()
          .execute(async (trx) => {
            await lock(trx, 2);
            otherHolds();
            await batchHolding;
            await lock(trx, 1);
          })
          .then(
            () => "ok",
            (err: unknown) => String((err as { code?: string }).code),
          );
        await holding;
        const first = g.submit(async (trx) => {
          await lock(trx, 1);
          await trx.insertInto("t").values({ x: 10 }).execute();
          batchHolds();
        });
        const second = g.submit(async (trx) => {
          await lock(trx, 2);
          await trx.insertInto("t").values({ x: 20 }).execute();
        });
        const [a, b] = await Promise.allSettled([first, second]);
        const o = await outside;
        expect(a.status).toBe("fulfilled");
        // PostgreSQL's deadlock detector (1 s) broke the cycle on one side only.
        const batchLost = b.status === "rejected" && (b.reason as { code?: string }).code === "40P01";
        expect(batchLost ? o : "40P01").toBe(batchLost ? "ok" : o);
        expect(await rows()).toEqual(batchLost ? [1, 2, 10] : [1, 2, 10, 20]);
      });
    }
  });
}
