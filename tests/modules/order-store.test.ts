import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { newId } from "../../src/kernel/ids.ts";
import { openOrderDatabase, type SqlOrderStore } from "../../src/modules/order/storage/store.ts";
import type { OrderTables } from "../../src/modules/order/storage/tables.ts";
import type { OrderRecord } from "../../src/modules/order/storage/types.ts";
import { DATABASES, usePostgres, WITH_POSTGRES } from "../helpers/databases.ts";
import { type FreshDb, freshDb, statementCount } from "../kernel/storage-fixture.ts";

/**
 * The order store on both databases: group commit of the orders and reservation intents of one
 * event-loop turn, the per-account unpaid-orders limit inside a batch, and lock order across
 * instances (PostgreSQL advisory locks).
 */

usePostgres();

const order = (id: string, accountId = newId()): OrderRecord => ({
  id,
  accountId,
  status: "PENDING",
  totalCents: 100,
  currency: "EUR",
  createdAt: new Date().toISOString(),
  items: [{ productId: newId(), quantity: 1, unitPriceCents: 100, currency: "EUR" }],
});

for (const kind of DATABASES)
  describe(`order store [${kind}]`, () => {
    let fx: FreshDb<OrderTables>;
    let store: SqlOrderStore;
    // Read through the fixture's own handle (reads only, outside any transaction).
    const intents = async (): Promise<string[]> =>
      (await fx.mdb.db.selectFrom("reservation_intents").select("order_id as id").orderBy("order_id").execute()).map((r) => r.id);
    const begins = () => statementCount(fx.label, "begin");

    beforeEach(async () => {
      fx = await freshDb<OrderTables>(kind);
      store = await openOrderDatabase(fx.config);
    }, 30_000);
    afterEach(async () => {
      await store.close().catch(() => undefined);
      await fx.close();
    });

    test("intents added in one turn are committed together; each promise resolves once its row exists", async () => {
      const before = await begins();
      const ids = Array.from({ length: 20 }, () => newId());
      const seen: string[][] = [];
      const added = ids.map((id) => store.sagas.addIntent(id).then(async () => void seen.push(await intents())));
      // Nothing is written before the flush (SQLite reads without leaving this turn; a PostgreSQL
      // read takes round trips, during which the batch commits).
      if (kind === "sqlite") expect(await intents()).toEqual([]);
      await Promise.all(added);
      for (const rows of seen) expect(rows).toEqual([...ids].sort());
      expect(await intents()).toEqual([...ids].sort());
      expect((await begins()) - before).toBe(1);
      // A later turn gets its own commit; a repeated id is ignored.
      await Promise.all([store.sagas.addIntent(ids[0] as string), store.sagas.addIntent(newId())]);
      expect((await begins()) - before).toBe(2);
      expect(await intents()).toHaveLength(21);
    });

    test("a failed group commit rejects every intent of the batch, and the next batch works again", async () => {
      const ids = [newId(), newId()];
      // Makes the batch's write fail: the table is gone.
      await sql`ALTER TABLE reservation_intents RENAME TO intents_away`.execute(fx.mdb.db);
      const results = await Promise.allSettled(ids.map((id) => store.sagas.addIntent(id)));
      expect(results.every((r) => r.status === "rejected")).toBe(true);
      await sql`ALTER TABLE intents_away RENAME TO reservation_intents`.execute(fx.mdb.db);
      expect(await intents()).toEqual([]);
      const id = newId();
      await store.sagas.addIntent(id);
      expect(await intents()).toEqual([id]);
    });

    test("store.create deletes the order's intent in its transaction", async () => {
      const id = newId();
      await store.sagas.addIntent(id);
      await store.create(order(id));
      expect(await intents()).toEqual([]);
      expect((await store.byId(id))?.id).toBe(id);
    });

    test("orders of one turn share a commit; a failing order rolls back alone; a swept intent refuses its order", async () => {
      const [ok1, ok2, bad, swept, missing] = [newId(), newId(), newId(), newId(), newId()];
      await Promise.all([store.sagas.addIntent(ok1), store.sagas.addIntent(ok2), store.sagas.addIntent(swept)]);
      expect(await store.sagas.sweepIntent(swept)).toBe(true);
      const before = await begins();
      const repeated = order(bad);
      repeated.items.push({ ...(repeated.items[0] as OrderRecord["items"][number]) });
      const results = await Promise.allSettled([
        store.create(order(ok1), [], { requireIntent: true }),
        store.create(repeated),
        store.create(order(swept), [], { requireIntent: true }),
        store.create(order(missing), [], { requireIntent: true }),
        store.create(order(ok2), [], { requireIntent: true }),
      ]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected", "rejected", "fulfilled"]);
      for (const i of [2, 3]) expect((results[i] as PromiseRejectedResult).reason).toMatchObject({ code: "SERVICE_UNAVAILABLE" });
      expect((await begins()) - before).toBe(1);
      expect((await store.byId(ok1))?.items).toHaveLength(1);
      expect((await store.byId(ok2))?.items).toHaveLength(1);
      for (const id of [bad, swept, missing]) expect(await store.byId(id)).toBeNull();
      // The swept intent stays (the sweeper deletes it once the catalog released its stock).
      expect(await intents()).toEqual([swept]);
    });

    test("the unpaid-orders limit holds per account inside one batch, whatever the accounts' order", async () => {
      const [a, b] = [newId(), newId()];
      const calls = Array.from({ length: 12 }, (_, i) => {
        const accountId = i % 3 === 0 ? a : b;
        return store.sagas.addIntent(newId(), { accountId, maxPending: 2 }).then(
          () => accountId,
          (err: { code?: string }) => `${accountId}:${err.code}`,
        );
      });
      const outcomes = await Promise.all(calls);
      expect(outcomes.filter((o) => o === a)).toHaveLength(2);
      expect(outcomes.filter((o) => o === b)).toHaveLength(2);
      expect(outcomes.filter((o) => o.endsWith(":LIMIT_EXCEEDED"))).toHaveLength(8);
      // A PENDING order counts too: a's two intents become orders, still two unpaid.
      const ordersOfA = (await fx.mdb.db.selectFrom("reservation_intents").select("order_id").where("account_id", "=", a).execute()).map(
        (r) => r.order_id,
      );
      await Promise.all(ordersOfA.map((id) => store.create(order(id, a), [], { requireIntent: true })));
      await expect(store.sagas.addIntent(newId(), { accountId: a, maxPending: 2 })).rejects.toMatchObject({ code: "LIMIT_EXCEEDED" });
    });
  });

// PostgreSQL only: SQLite has one writer process per file (no advisory locks, no second instance).
describe.if(WITH_POSTGRES)("order store [postgres], two instances", () => {
  let fx: FreshDb<OrderTables>;
  let store: SqlOrderStore;
  beforeEach(async () => {
    fx = await freshDb<OrderTables>("postgres");
    store = await openOrderDatabase(fx.config);
  }, 30_000);
  afterEach(async () => {
    await store.close();
    await fx.close();
  });

  test("two instances adding intents of the same accounts in opposite orders do not deadlock", async () => {
    const other = await openOrderDatabase(fx.config);
    try {
      const accounts = Array.from({ length: 6 }, () => newId());
      const add = (s: SqlOrderStore, list: string[]) => list.map((accountId) => s.sagas.addIntent(newId(), { accountId, maxPending: 50 }));
      const started = Date.now();
      for (let round = 0; round < 5; round++)
        await Promise.all([...add(store, accounts), ...add(other, [...accounts].reverse()), ...add(store, [...accounts].reverse())]);
      // PostgreSQL breaks a lock cycle after deadlock_timeout (1 s) by failing a write.
      expect(Date.now() - started).toBeLessThan(5000);
      expect(await intents()).toBe(5 * 18);
    } finally {
      await other.close();
    }
  }, 30_000);

  const intents = async (): Promise<number> =>
    Number(
      (
        await fx.mdb.db
          .selectFrom("reservation_intents")
          .select((eb) => eb.fn.countAll().as("n"))
          .executeTakeFirst()
      )?.n,
    );
});
