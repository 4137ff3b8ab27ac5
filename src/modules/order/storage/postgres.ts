import { migratePostgres, openPostgres, PostgresOutbox, type Headers, type Logger, type PgSql } from "../../../kernel/index.ts";
import { OrderEvents } from "../contract/index.ts";
import { statusChangedEvent } from "./events.ts";
import { orderWriteTooLate } from "./intent-errors.ts";
import { ORDER_PG_MIGRATIONS } from "./migrations.pg.ts";
import type { CreateOptions, OrderItemRecord, OrderRecord, OrderStatus, OrderStore, OutboxMessage, TransitionOutcome } from "./types.ts";

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
  readonly outbox: PostgresOutbox;

  constructor(readonly sql: PgSql) {
    this.outbox = new PostgresOutbox(sql);
  }

  async create(o: OrderRecord, events: readonly OutboxMessage[] = [], opts: CreateOptions = {}): Promise<void> {
    await this.sql.begin(async (tx) => {
      // The reservation intent ends with the order's commit (see OrderStore.create). First, so
      // that the row lock orders this transaction against the sweeper's compare-and-set: a
      // swept (or, when required, missing) intent means the stock is being released, and the
      // order must not be written.
      const [intent] = await tx<
        { sweptAt: Date | null }[]
      >`DELETE FROM reservation_intents WHERE order_id = ${o.id} RETURNING swept_at AS "sweptAt"`;
      if (intent?.sweptAt || (opts.requireIntent && !intent)) throw orderWriteTooLate(o.id);
      for (const e of events) await this.outbox.add(tx, e.subject, e.event, e.headers);
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
    if (events.length > 0) void this.outbox.committed(events.map((e) => e.subject));
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

  async transition(
    id: string,
    from: readonly OrderStatus[],
    to: OrderStatus,
    opts: { headers?: Headers } = {},
  ): Promise<TransitionOutcome> {
    // The row lock (FOR UPDATE) serialises concurrent transitions of one order: the second
    // one re-reads the status the first one wrote.
    const previous = await this.sql.begin(async (tx): Promise<OrderStatus | null> => {
      const [row] = await tx<
        { status: OrderStatus; accountId: string }[]
      >`SELECT status, account_id AS "accountId" FROM orders WHERE id = ${id} FOR UPDATE`;
      if (!row || !from.includes(row.status)) return null;
      await tx`UPDATE orders SET status = ${to} WHERE id = ${id}`;
      // The event commits with the change (transactional outbox): published iff the change happened.
      await this.outbox.add(tx, OrderEvents.statusChanged, statusChangedEvent(id, row.accountId, to, row.status), opts.headers ?? {});
      return row.status;
    });
    if (previous) void this.outbox.committed([OrderEvents.statusChanged]);
    const order = await this.byId(id);
    return previous && order ? { changed: true, order, previous } : { changed: false, order };
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
