import { migratePostgres, openPostgres, type Logger, type PgSql } from "../../../kernel/index.ts";
import { ORDER_PG_MIGRATIONS } from "./migrations.pg.ts";
import type { OrderItemRecord, OrderRecord, OrderStatus, OrderStore } from "./types.ts";

interface OrderRow {
  id: string;
  accountId: string;
  status: OrderStatus;
  totalCents: number;
  currency: string;
  createdAt: Date;
}

interface ItemRow extends OrderItemRecord {
  orderId: string;
}

/**
 * Opens a pool on the order database, migrates it and returns a store on it.
 * @param url PostgreSQL URL (its `search_path` parameter selects the schema).
 * @throws MigrationError when the database was migrated by newer code; the driver's error
 *   when the database is unreachable. The pool is closed on failure.
 */
export async function openPostgresOrderStore(url: string, opts: { poolMax: number; logger?: Logger }): Promise<PostgresOrderStore> {
  const sql = openPostgres(url, opts);
  try {
    await migratePostgres(sql, ORDER_PG_MIGRATIONS);
  } catch (err) {
    await sql.end({ timeout: 5 });
    throw err;
  }
  return new PostgresOrderStore(sql);
}

/** {@link OrderStore} on a PostgreSQL pool. Money columns are bigint cents, read back as numbers. */
export class PostgresOrderStore implements OrderStore {
  constructor(readonly sql: PgSql) {}

  async create(o: OrderRecord): Promise<void> {
    await this.sql.begin(async (tx) => {
      await tx`
        INSERT INTO orders (id, account_id, status, total_cents, currency, created_at)
        VALUES (${o.id}, ${o.accountId}, ${o.status}, ${o.totalCents}, ${o.currency}, ${o.createdAt})`;
      if (o.items.length === 0) return;
      // All lines in one statement; a failing line (e.g. a repeated product) rolls back the order too.
      await tx`
        INSERT INTO order_items (order_id, position, product_id, quantity, unit_price_cents, currency)
        SELECT ${o.id}, i.position - 1, i.product_id, i.quantity, i.unit_price_cents, i.currency
        FROM unnest(
          ${tx.array(o.items.map((i) => i.productId))}::text[],
          ${tx.array(o.items.map((i) => i.quantity))}::integer[],
          ${tx.array(o.items.map((i) => i.unitPriceCents))}::bigint[],
          ${tx.array(o.items.map((i) => i.currency))}::text[]
        ) WITH ORDINALITY AS i(product_id, quantity, unit_price_cents, currency, position)`;
    });
  }

  async byId(id: string): Promise<OrderRecord | null> {
    const [row] = await this.sql<OrderRow[]>`
      SELECT id, account_id AS "accountId", status, total_cents AS "totalCents", currency, created_at AS "createdAt"
      FROM orders WHERE id = ${id}`;
    if (!row) return null;
    const items = await this.sql<ItemRow[]>`
      SELECT order_id AS "orderId", product_id AS "productId", quantity, unit_price_cents AS "unitPriceCents", currency
      FROM order_items WHERE order_id = ${id} ORDER BY position`;
    return withItems(row, items);
  }

  async byAccount(accountId: string): Promise<OrderRecord[]> {
    const rows = await this.sql<OrderRow[]>`
      SELECT id, account_id AS "accountId", status, total_cents AS "totalCents", currency, created_at AS "createdAt"
      FROM orders WHERE account_id = ${accountId} ORDER BY seq DESC`;
    if (rows.length === 0) return [];
    // All lines of all the account's orders in one query, grouped below.
    const items = await this.sql<ItemRow[]>`
      SELECT order_id AS "orderId", product_id AS "productId", quantity, unit_price_cents AS "unitPriceCents", currency
      FROM order_items WHERE order_id = ANY(${this.sql.array(rows.map((r) => r.id))}::text[]) ORDER BY order_id, position`;
    const byOrder = new Map<string, ItemRow[]>();
    for (const i of items) {
      const list = byOrder.get(i.orderId);
      if (list) list.push(i);
      else byOrder.set(i.orderId, [i]);
    }
    return rows.map((r) => withItems(r, byOrder.get(r.id) ?? []));
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}

const withItems = (row: OrderRow, items: readonly ItemRow[]): OrderRecord => ({
  id: row.id,
  accountId: row.accountId,
  status: row.status,
  totalCents: row.totalCents,
  currency: row.currency,
  createdAt: row.createdAt.toISOString(),
  items: items.map(({ productId, quantity, unitPriceCents, currency }) => ({ productId, quantity, unitPriceCents, currency })),
});
