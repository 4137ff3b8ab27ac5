import { afterEach, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { Inbox, inboxMigration } from "../../src/kernel/inbox/index.ts";
import { migrate } from "../../src/kernel/storage/migrate.ts";
import { DATABASES, usePostgres } from "../helpers/databases.ts";
import { type FreshDb, freshDb } from "./storage-fixture.ts";

usePostgres();

interface Tables {
  stock: { sku: string; qty: number };
}

for (const kind of DATABASES) {
  describe(`inbox [${kind}]`, () => {
    let f: FreshDb<Tables>;
    let inbox: Inbox<Tables>;
    afterEach(async () => f?.close());

    const open = async (): Promise<void> => {
      f = await freshDb<Tables>(kind);
      await migrate(f.mdb, [
        { version: 1, name: "stock", up: "CREATE TABLE stock (sku text PRIMARY KEY, qty integer NOT NULL)" },
        inboxMigration(2),
      ]);
      await f.mdb.db.insertInto("stock").values({ sku: "a", qty: 10 }).execute();
      inbox = new Inbox(f.mdb);
    };
    const qty = async (): Promise<number> => (await f.mdb.db.selectFrom("stock").select("qty").executeTakeFirstOrThrow()).qty;
    /** The consumer's handler: decrements the stock once per event id. */
    const handle = (eventId: string, consumer = "catalog.release", fail = false) =>
      f.mdb.db.transaction().execute(async (trx) => {
        if (!(await inbox.markProcessed(trx, consumer, eventId))) return false;
        await trx
          .updateTable("stock")
          .set((eb) => ({ qty: eb("qty", "-", 1) }))
          .execute();
        if (fail) throw new Error("handler failed");
        return true;
      });

    test("a redelivered event is refused: its effect happens once", async () => {
      await open();
      expect(await handle("e1")).toBe(true);
      expect(await handle("e1")).toBe(false);
      expect(await qty()).toBe(9);
      expect(await inbox.processed("catalog.release", "e1")).toBe(true);
    });

    test("consumers are independent: the same event id is new to another consumer", async () => {
      await open();
      expect(await handle("e1", "one")).toBe(true);
      expect(await handle("e1", "two")).toBe(true);
      expect(await qty()).toBe(8);
    });

    test("the mark is atomic with the state change: a rolled-back handler leaves no mark, and the retry applies", async () => {
      await open();
      await expect(handle("e1", "c", true)).rejects.toThrow("handler failed");
      expect(await qty()).toBe(10);
      expect(await inbox.processed("c", "e1")).toBe(false);
      expect(await handle("e1", "c")).toBe(true);
      expect(await qty()).toBe(9);
    });

    test("marking outside a transaction is refused", async () => {
      await open();
      await expect(inbox.markProcessed(f.mdb.db, "c", "e1")).rejects.toThrow(/inside the transaction/);
    });

    test("prune deletes only marks older than the retention", async () => {
      await open();
      await handle("new");
      const old = new Date(Date.now() - 3 * 3_600_000).toISOString();
      await sql`INSERT INTO inbox (consumer, event_id, processed_at) VALUES ('c', 'old', ${old})`.execute(f.mdb.db);
      expect(await inbox.prune(3_600_000)).toBe(1);
      expect(await inbox.processed("c", "old")).toBe(false);
      expect(await inbox.processed("catalog.release", "new")).toBe(true);
      expect(await inbox.prune()).toBe(0);
    });

    if (kind === "postgres") {
      test("two instances handling the same event at once: exactly one applies it", async () => {
        await open();
        const marked = Promise.withResolvers<void>();
        const a = f.mdb.db.transaction().execute(async (trx) => {
          const first = await inbox.markProcessed(trx, "c", "e1").finally(() => marked.resolve());
          await Bun.sleep(200); // the other instance's insert now waits on this one's key
          if (first) await trx.updateTable("stock").set({ qty: 5 }).execute();
          return first;
        });
        // Ready when this instance holds the event's key (its insert returned), not after a guess.
        await marked.promise;
        const otherDb = f.another();
        const b = otherDb.db.transaction().execute((trx) => inbox.markProcessed(trx, "c", "e1"));
        expect((await Promise.all([a, b])).sort()).toEqual([false, true]);
        expect(await qty()).toBe(5);
      });
    }
  });
}
