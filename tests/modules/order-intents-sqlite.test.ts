import { afterEach, beforeEach, expect, test } from "bun:test";
import { newId } from "../../src/kernel/ids.ts";
import { SqliteSagaStore } from "../../src/modules/order/storage/saga-sqlite.ts";
import { openSqliteOrderStore, type SqliteOrderStore } from "../../src/modules/order/storage/sqlite.ts";

/** Reservation intents on SQLite: group commit of the intents of one event-loop turn. */

let store: SqliteOrderStore;
let sagas: SqliteSagaStore;
const intents = (): string[] =>
  store.db
    .query<{ id: string }, []>("SELECT order_id AS id FROM reservation_intents ORDER BY order_id")
    .all()
    .map((r) => r.id);

beforeEach(() => {
  store = openSqliteOrderStore(":memory:");
  sagas = new SqliteSagaStore(store.db);
});
afterEach(async () => {
  await store.close().catch(() => undefined);
});

test("intents added in one turn are committed together; each promise resolves once its row exists", async () => {
  let transactions = 0;
  const original = store.db.transaction.bind(store.db);
  store.db.transaction = ((fn: (...args: never[]) => unknown) => (transactions++, original(fn))) as typeof store.db.transaction;
  const ids = Array.from({ length: 20 }, () => newId());
  const added = ids.map((id) => sagas.addIntent(id).then(() => expect(intents()).toContain(id)));
  // Nothing is written before the flush.
  expect(intents()).toEqual([]);
  await Promise.all(added);
  expect(intents()).toEqual([...ids].sort());
  expect(transactions).toBe(1);
  // A later turn gets its own commit; a repeated id is ignored.
  await Promise.all([sagas.addIntent(ids[0] as string), sagas.addIntent(newId())]);
  expect(transactions).toBe(2);
  expect(intents()).toHaveLength(21);
});

test("a failed group commit rejects every intent of the batch, and the next batch works again", async () => {
  const ids = [newId(), newId()];
  // Makes the batch's transaction fail: the table is gone.
  store.db.exec("ALTER TABLE reservation_intents RENAME TO intents_away");
  const results = await Promise.allSettled(ids.map((id) => sagas.addIntent(id)));
  expect(results.every((r) => r.status === "rejected")).toBe(true);
  store.db.exec("ALTER TABLE intents_away RENAME TO reservation_intents");
  expect(intents()).toEqual([]);
  const id = newId();
  await sagas.addIntent(id);
  expect(intents()).toEqual([id]);
});

test("store.create deletes the order's intent in its transaction", async () => {
  const id = newId();
  await sagas.addIntent(id);
  await store.create({
    id,
    accountId: newId(),
    status: "PENDING",
    totalCents: 100,
    currency: "EUR",
    createdAt: new Date().toISOString(),
    items: [{ productId: newId(), quantity: 1, unitPriceCents: 100, currency: "EUR" }],
  });
  expect(intents()).toEqual([]);
  expect((await store.byId(id))?.id).toBe(id);
});
