import { migrateSqlite, openSqlite, type Database } from "../../../kernel/index.ts";
import { ORDER_MIGRATIONS } from "./migrations.ts";
import type { OrderItemRecord, OrderRecord, OrderStatus, OrderStore } from "./types.ts";

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
  private readonly createTx;

  constructor(db: Database) {
    this.db = db;
    // IMMEDIATE takes the write lock up front: a second connection to the file waits on
    // busy_timeout instead of failing to upgrade a read lock mid-transaction.
    this.createTx = db.transaction((o: OrderRecord) => {
      db.query("INSERT INTO orders (id, account_id, status, total_cents, currency, created_at) VALUES (?, ?, ?, ?, ?, ?)").run(
        o.id,
        o.accountId,
        o.status,
        o.totalCents,
        o.currency,
        o.createdAt,
      );
      const insertItem = db.query(
        "INSERT INTO order_items (order_id, position, product_id, quantity, unit_price_cents, currency) VALUES (?, ?, ?, ?, ?, ?)",
      );
      o.items.forEach((i, position) => insertItem.run(o.id, position, i.productId, i.quantity, i.unitPriceCents, i.currency));
    }).immediate;
  }

  async create(order: OrderRecord): Promise<void> {
    this.createTx(order);
  }

  async byId(id: string): Promise<OrderRecord | null> {
    const row = this.db.query<OrderRow, [string]>(`SELECT ${ORDER_COLUMNS} FROM orders WHERE id = ?`).get(id);
    if (!row) return null;
    const items = this.db
      .query<ItemRow, [string]>(`SELECT ${ITEM_COLUMNS} FROM order_items WHERE order_id = ? ORDER BY position`)
      .all(id);
    return withItems(row, items);
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
