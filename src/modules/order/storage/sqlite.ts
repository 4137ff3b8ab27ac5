import { migrateSqlite, openSqlite, SqliteOutbox, type Database, type Headers } from "../../../kernel/index.ts";
import { GroupCommit } from "../../../kernel/storage/group-commit.ts";
import { OrderEvents } from "../contract/index.ts";
import { statusChangedEvent } from "./events.ts";
import { orderWriteTooLate } from "./intent-errors.ts";
import { ORDER_MIGRATIONS } from "./migrations.ts";
import type { CreateOptions, OrderItemRecord, OrderRecord, OrderStatus, OrderStore, OutboxMessage, TransitionOutcome } from "./types.ts";

interface OrderRow {
  id: string;
  accountId: string;
  status: OrderStatus;
  totalCents: number;
  currency: string;
  createdAt: string;
}

interface ItemRow extends OrderItemRecord {
  orderId: string;
}

const ORDER_COLUMNS = "id, account_id AS accountId, status, total_cents AS totalCents, currency, created_at AS createdAt";
const ITEM_COLUMNS = "order_id AS orderId, product_id AS productId, quantity, unit_price_cents AS unitPriceCents, currency";

/**
 * Opens (creating and migrating) the order database and returns a store on it.
 * @param path database file, or `":memory:"`.
 * @throws MigrationError when the database was migrated by newer code.
 */
export function openSqliteOrderStore(path: string): SqliteOrderStore {
  const db = openSqlite(path);
  try {
    migrateSqlite(db, ORDER_MIGRATIONS);
  } catch (err) {
    db.close();
    throw err;
  }
  return new SqliteOrderStore(db);
}

/** {@link OrderStore} on bun:sqlite. */
export class SqliteOrderStore implements OrderStore {
  readonly db: Database;
  readonly outbox: SqliteOutbox;
  private readonly createBatch: GroupCommit<[OrderRecord, readonly OutboxMessage[], boolean], void>;
  private readonly transitionTx;

  constructor(db: Database) {
    this.db = db;
    this.outbox = new SqliteOutbox(db);
    // IMMEDIATE takes the write lock up front: a second connection to the file waits on
    // busy_timeout instead of failing to upgrade a read lock mid-transaction.
    // Prepared once: createOrder's hot path (bun:sqlite's query cache would look each up by its SQL).
    const insertOrder = db.prepare(
      "INSERT INTO orders (id, account_id, status, total_cents, currency, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    const insertItem = db.prepare(
      "INSERT INTO order_items (order_id, position, product_id, quantity, unit_price_cents, currency) VALUES (?, ?, ?, ?, ?, ?)",
    );
    const takeIntent = db.prepare<{ sweptAt: string | null }, [string]>(
      "DELETE FROM reservation_intents WHERE order_id = ? RETURNING swept_at AS sweptAt",
    );
    // Group commit: the orders written in one event-loop turn share one transaction, each in
    // its own savepoint (all or nothing per order, as before; see GroupCommit).
    this.createBatch = new GroupCommit(db, (o: OrderRecord, events: readonly OutboxMessage[], requireIntent: boolean) => {
      // The reservation intent ends with the order's commit (see OrderStore.create); a swept
      // (or, when required, missing) one means the sweeper releases the stock: the order must
      // not be written (savepoint rolled back, this write rejects).
      const intent = takeIntent.get(o.id);
      if (intent?.sweptAt || (requireIntent && !intent)) throw orderWriteTooLate(o.id);
      insertOrder.run(o.id, o.accountId, o.status, o.totalCents, o.currency, o.createdAt);
      for (const [position, i] of o.items.entries()) insertItem.run(o.id, position, i.productId, i.quantity, i.unitPriceCents, i.currency);
      for (const e of events) this.outbox.add(e.subject, e.event, e.headers);
    });
    // Read and update under one write lock: the check and the change cannot interleave with another transition.
    this.transitionTx = db.transaction(
      (id: string, from: readonly OrderStatus[], to: OrderStatus, headers: Headers): { previous: OrderStatus } | null => {
        const row = db
          .query<{ status: OrderStatus; accountId: string }, [string]>("SELECT status, account_id AS accountId FROM orders WHERE id = ?")
          .get(id);
        if (!row || !from.includes(row.status)) return null;
        db.query("UPDATE orders SET status = ? WHERE id = ?").run(to, id);
        // The event commits with the change (transactional outbox): published iff the change happened.
        this.outbox.add(OrderEvents.statusChanged, statusChangedEvent(id, row.accountId, to, row.status), headers);
        return { previous: row.status };
      },
    ).immediate;
  }

  async create(order: OrderRecord, events: readonly OutboxMessage[] = [], opts: CreateOptions = {}): Promise<void> {
    await this.createBatch.submit(order, events, opts.requireIntent === true);
    if (events.length > 0) void this.outbox.committed(events.map((e) => e.subject));
  }

  async byId(id: string): Promise<OrderRecord | null> {
    const row = this.db.query<OrderRow, [string]>(`SELECT ${ORDER_COLUMNS} FROM orders WHERE id = ?`).get(id);
    if (!row) return null;
    const items = this.db.query<ItemRow, [string]>(`SELECT ${ITEM_COLUMNS} FROM order_items WHERE order_id = ? ORDER BY position`).all(id);
    return withItems(row, items);
  }

  async transition(
    id: string,
    from: readonly OrderStatus[],
    to: OrderStatus,
    opts: { headers?: Headers } = {},
  ): Promise<TransitionOutcome> {
    const done = this.transitionTx(id, from, to, opts.headers ?? {});
    if (done) void this.outbox.committed([OrderEvents.statusChanged]);
    const order = await this.byId(id);
    return done && order ? { changed: true, order, previous: done.previous } : { changed: false, order };
  }

  async byAccount(accountId: string): Promise<OrderRecord[]> {
    const rows = this.db
      .query<OrderRow, [string]>(`SELECT ${ORDER_COLUMNS} FROM orders WHERE account_id = ? ORDER BY seq DESC`)
      .all(accountId);
    if (rows.length === 0) return [];
    // All lines of all the account's orders in one query, grouped below.
    const items = this.db
      .query<ItemRow, [string]>(
        `SELECT ${ITEM_COLUMNS} FROM order_items WHERE order_id IN (SELECT id FROM orders WHERE account_id = ?) ORDER BY order_id, position`,
      )
      .all(accountId);
    const byOrder = new Map<string, ItemRow[]>();
    for (const i of items) {
      const list = byOrder.get(i.orderId);
      if (list) list.push(i);
      else byOrder.set(i.orderId, [i]);
    }
    return rows.map((r) => withItems(r, byOrder.get(r.id) ?? []));
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

const withItems = (row: OrderRow, items: readonly ItemRow[]): OrderRecord => ({
  ...row,
  items: items.map(({ productId, quantity, unitPriceCents, currency }) => ({ productId, quantity, unitPriceCents, currency })),
});
