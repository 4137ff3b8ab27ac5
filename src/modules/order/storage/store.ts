import type { Kysely, Transaction } from "kysely";
import {
  type DatabaseConfig,
  GroupCommitter,
  type Headers,
  type Logger,
  type ModuleDb,
  Outbox,
  openMigratedDatabase,
  Prepared,
} from "../../../kernel/index.ts";
import { OrderEvents } from "../contract/index.ts";
import { statusChangedEvent } from "./events.ts";
import { orderWriteTooLate } from "./intent-errors.ts";
import { ORDER_MIGRATIONS } from "./migrations.ts";
import { SqlSagaStore } from "./saga-store.ts";
import type { OrderTables } from "./tables.ts";
import type { CreateOptions, OrderItemRecord, OrderRecord, OrderStatus, OrderStore, OutboxMessage, TransitionOutcome } from "./types.ts";

const ORDER_COLUMNS = [
  "id",
  "account_id as accountId",
  "status",
  "total_cents as totalCents",
  "currency",
  "created_at as createdAt",
] as const;
const ITEM_COLUMNS = [
  "order_id as orderId",
  "product_id as productId",
  "quantity",
  "unit_price_cents as unitPriceCents",
  "currency",
] as const;

type OrderRow = Omit<OrderRecord, "items">;
interface ItemRow extends OrderItemRecord {
  orderId: string;
}

/**
 * Opens the order database (SQLite file or PostgreSQL pool), migrates it and returns the order
 * store on it (its saga store is `store.sagas`, on the same database).
 * @throws MigrationError when the database was migrated by newer code; the driver's error when
 *   it cannot be opened (the database is closed on failure).
 */
export async function openOrderDatabase(config: DatabaseConfig, logger?: Logger): Promise<SqlOrderStore> {
  return new SqlOrderStore(await openMigratedDatabase<OrderTables>(config, ORDER_MIGRATIONS, logger ? { logger } : {}));
}

/**
 * {@link OrderStore} on either database. Orders are written by group commit (the orders of one
 * event-loop turn share a transaction, each in its own savepoint: all or nothing per order), on
 * SQLite as on PostgreSQL; the saga store shares the committer, so a turn's reservation intents
 * commit with its orders. A transition reads and updates the order in one write transaction:
 * SQLite's `BEGIN IMMEDIATE` serialises writers, PostgreSQL locks the row (`FOR UPDATE`).
 */
export class SqlOrderStore implements OrderStore {
  readonly outbox: Outbox<OrderTables>;
  /** Checkout sagas and reservation intents, on this database and its group commit. */
  readonly sagas: SqlSagaStore;
  readonly #mdb: ModuleDb<OrderTables>;
  readonly #db: Kysely<OrderTables>;
  readonly #group: GroupCommitter<OrderTables>;
  // createOrder's statements, compiled once (see Prepared).
  readonly #takeIntent: Prepared<{ sweptAt: string | null }>;
  readonly #insertOrder: Prepared<unknown>;
  /** By number of lines. */
  readonly #insertItems = new Map<number, Prepared<unknown>>();

  constructor(mdb: ModuleDb<OrderTables>) {
    this.#mdb = mdb;
    this.#db = mdb.db;
    this.outbox = new Outbox(mdb);
    this.#group = new GroupCommitter(mdb.db);
    this.sagas = new SqlSagaStore(mdb, this.#group);
    const db = mdb.db;
    this.#takeIntent = new Prepared(
      db,
      (arg) => db.deleteFrom("reservation_intents").where("order_id", "=", arg<string>(0)).returning("swept_at as sweptAt"),
      1,
    );
    this.#insertOrder = new Prepared(
      db,
      (arg) =>
        db.insertInto("orders").values({
          id: arg(0),
          account_id: arg(1),
          status: arg(2),
          total_cents: arg(3),
          currency: arg(4),
          created_at: arg(5),
        }),
      6,
    );
  }

  /** All lines of an order in one statement: a failing line (e.g. a repeated product) rolls back the order too. */
  #writeItems(trx: Transaction<OrderTables>, o: OrderRecord): Promise<unknown> {
    const n = o.items.length;
    let q = this.#insertItems.get(n);
    if (!q) {
      const db = this.#db;
      q = new Prepared(
        db,
        (arg) =>
          db.insertInto("order_items").values(
            Array.from({ length: n }, (_, position) => ({
              order_id: arg(0),
              position,
              product_id: arg(1 + 4 * position),
              quantity: arg(2 + 4 * position),
              unit_price_cents: arg(3 + 4 * position),
              currency: arg(4 + 4 * position),
            })),
          ),
        1 + 4 * n,
      );
      // At most ORDER_MAX_LINES entries (validation refuses longer orders).
      this.#insertItems.set(n, q);
    }
    const args: unknown[] = [o.id];
    for (const i of o.items) args.push(i.productId, i.quantity, i.unitPriceCents, i.currency);
    return q.execute(trx, args);
  }

  async create(o: OrderRecord, events: readonly OutboxMessage[] = [], opts: CreateOptions = {}): Promise<void> {
    const requireIntent = opts.requireIntent === true;
    await this.#group.submit(async (trx) => {
      // The reservation intent ends with the order's commit (see OrderStore.create). First, so
      // that on PostgreSQL the row lock orders this write against the sweeper's compare-and-set
      // (SQLite's writer lock already does): a swept (or, when required, missing) intent means
      // the stock is being released, and the order must not be written (savepoint rolled back).
      const intent = (await this.#takeIntent.execute(trx, [o.id])).rows[0];
      if (intent?.sweptAt || (requireIntent && !intent)) throw orderWriteTooLate(o.id);
      await this.#insertOrder.execute(trx, [o.id, o.accountId, o.status, o.totalCents, o.currency, o.createdAt]);
      if (o.items.length > 0) await this.#writeItems(trx, o);
      for (const e of events) await this.outbox.add(trx, e.subject, e.event, e.headers);
    });
    if (events.length > 0) void this.outbox.committed(events.map((e) => e.subject));
  }

  async byId(id: string): Promise<OrderRecord | null> {
    const row = await this.#db.selectFrom("orders").select(ORDER_COLUMNS).where("id", "=", id).executeTakeFirst();
    if (!row) return null;
    const items = await this.#db.selectFrom("order_items").select(ITEM_COLUMNS).where("order_id", "=", id).orderBy("position").execute();
    return withItems(row, items);
  }

  async transition(
    id: string,
    from: readonly OrderStatus[],
    to: OrderStatus,
    opts: { headers?: Headers } = {},
  ): Promise<TransitionOutcome> {
    // Read and update under one write lock (SQLite's writer lock; PostgreSQL's row lock): of two
    // concurrent transitions of one order, the second re-reads the status the first one wrote.
    const previous = await this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom("orders")
        .select(["status", "account_id as accountId"])
        .where("id", "=", id)
        .$if(this.#mdb.dialect === "postgres", (q) => q.forUpdate())
        .executeTakeFirst();
      if (!row || !from.includes(row.status)) return null;
      await trx.updateTable("orders").set({ status: to }).where("id", "=", id).execute();
      // The event commits with the change (transactional outbox): published iff the change happened.
      await this.outbox.add(trx, OrderEvents.statusChanged, statusChangedEvent(id, row.accountId, to, row.status), opts.headers ?? {});
      return row.status;
    });
    if (previous) void this.outbox.committed([OrderEvents.statusChanged]);
    const order = await this.byId(id);
    return previous && order ? { changed: true, order, previous } : { changed: false, order };
  }

  async byAccount(accountId: string): Promise<OrderRecord[]> {
    const rows = await this.#db
      .selectFrom("orders")
      .select(ORDER_COLUMNS)
      .where("account_id", "=", accountId)
      .orderBy("seq", "desc")
      .execute();
    if (rows.length === 0) return [];
    // All lines of all the account's orders in one query (same text whatever their number), grouped below.
    const items = await this.#db
      .selectFrom("order_items")
      .select(ITEM_COLUMNS)
      .where("order_id", "in", (eb) => eb.selectFrom("orders").select("id").where("account_id", "=", accountId))
      .orderBy("order_id")
      .orderBy("position")
      .execute();
    const byOrder = new Map<string, ItemRow[]>();
    for (const i of items) {
      const list = byOrder.get(i.orderId);
      if (list) list.push(i);
      else byOrder.set(i.orderId, [i]);
    }
    return rows.map((r) => withItems(r, byOrder.get(r.id) ?? []));
  }

  close(): Promise<void> {
    return this.#mdb.close();
  }
}

const withItems = (row: OrderRow, items: readonly ItemRow[]): OrderRecord => ({
  id: row.id,
  accountId: row.accountId,
  status: row.status,
  totalCents: Number(row.totalCents),
  currency: row.currency,
  createdAt: row.createdAt,
  items: items.map(({ productId, quantity, unitPriceCents, currency }) => ({
    productId,
    quantity,
    unitPriceCents: Number(unitPriceCents),
    currency,
  })),
});
