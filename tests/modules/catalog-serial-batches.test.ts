import { afterEach, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { GroupCommitter } from "../../src/kernel/storage/group-committer.ts";
import { SerialBatches } from "../../src/modules/catalog/storage/serial-batches.ts";
import { DATABASES, usePostgres } from "../helpers/databases.ts";
import { type FreshDb, freshDb } from "../kernel/storage-fixture.ts";

/**
 * SerialBatches (the catalog's reservation batches): a write submitted while a batch runs waits
 * for that batch to commit and joins the next one with everything else that arrived meanwhile;
 * a failing write still rolls back alone.
 */

usePostgres();

interface Tables {
  t: { id: number };
}

for (const kind of DATABASES) {
  describe(`SerialBatches [${kind}]`, () => {
    let fresh: FreshDb<Tables> | undefined;
    afterEach(async () => {
      await fresh?.close();
      fresh = undefined;
    });

    test("writes submitted during a batch start only after it committed, as one next batch", async () => {
      fresh = await freshDb<Tables>(kind);
      const { mdb } = fresh;
      await mdb.exec(mdb.db, "CREATE TABLE t (id integer PRIMARY KEY)");
      const serial = new SerialBatches(new GroupCommitter(mdb.db));
      const log: string[] = [];
      const later: Promise<unknown>[] = [];
      const first = serial.submit(async (trx) => {
        log.push("w1");
        // Submitted while this batch runs (not awaited here: that would wait for this very batch).
        for (const id of [2, 3]) {
          later.push(
            serial.submit(async (t2) => {
              log.push(`w${id}`);
              await t2.insertInto("t").values({ id }).execute();
            }),
          );
        }
        await trx.insertInto("t").values({ id: 1 }).execute();
        // Give a concurrent batch every chance to start (it would on PostgreSQL's second connection).
        await new Promise((r) => setTimeout(r, 50));
        await sql`SELECT 1`.execute(trx);
        log.push("w1 done");
      });
      await first.then(() => log.push("batch 1 committed"));
      await Promise.all(later);
      expect(log).toEqual(["w1", "w1 done", "batch 1 committed", "w2", "w3"]);
      const rows = await mdb.db.selectFrom("t").select("id").orderBy("id").execute();
      expect(rows.map((r) => r.id)).toEqual([1, 2, 3]);
    });

    test("a failing write rolls back alone; the others of its batch commit", async () => {
      fresh = await freshDb<Tables>(kind);
      const { mdb } = fresh;
      await mdb.exec(mdb.db, "CREATE TABLE t (id integer PRIMARY KEY)");
      const serial = new SerialBatches(new GroupCommitter(mdb.db));
      const results = await Promise.allSettled([
        serial.submit((trx) => trx.insertInto("t").values({ id: 1 }).execute()),
        serial.submit(async (trx) => {
          await trx.insertInto("t").values({ id: 2 }).execute();
          throw new Error("refused");
        }),
        serial.submit((trx) => trx.insertInto("t").values({ id: 3 }).execute()),
      ]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      const rows = await mdb.db.selectFrom("t").select("id").orderBy("id").execute();
      expect(rows.map((r) => r.id)).toEqual([1, 3]);
    });
  });
}
