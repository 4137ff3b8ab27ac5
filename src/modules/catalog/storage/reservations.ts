import { sql, type Transaction } from "kysely";
import { AppError, ErrorCode, type Inbox, Prepared, type SqlDialect } from "../../../kernel/index.ts";
import type { ReleaseStockRequest, ReservedItem, ReserveStockRequest } from "../contract/index.ts";
import { checkReservationTotal } from "../reservation-total.ts";
import type { CatalogDb, CatalogTables } from "./tables.ts";
import type { CommitOutcome, ReleaseOutcome, ReserveOutcome, StockLevel } from "./types.ts";

/** The inbox consumer name of the `order.status_changed` handler (stock.ts); stored in the inbox, never rename. */
export const ORDER_STATUS_CONSUMER = "catalog.order-status";

/**
 * Stock reservations inside a caller's write transaction, the same statements on both databases
 * but for PostgreSQL's row locks (SQLite's `BEGIN IMMEDIATE` already serialises writers):
 *
 * - Stock decrements are conditional (`stock >= quantity`), so stock never goes negative
 *   whatever the interleaving; a refused item throws, rolling back the whole reservation.
 * - PostgreSQL: the products of a request are locked in id order before any change (a reserve
 *   and a release do the same), so two multi-item writes cannot deadlock on each other's rows;
 *   reservation ids are primary keys, so a concurrent duplicate waits for the first and then
 *   sees its outcome.
 */
export class Reservations {
  readonly #dialect: SqlDialect;
  // createOrder's statements, compiled once (see Prepared).
  readonly #claim: Prepared<never>;
  readonly #decrement: Prepared<{ stock: number; unitPriceCents: number; currency: string }>;
  readonly #insertItem: Prepared<never>;

  /** @param db the catalog database (its dialect compiles the prepared statements). */
  constructor(db: CatalogDb, dialect: SqlDialect) {
    this.#dialect = dialect;
    // Arguments: reservation id, now (created_at and updated_at).
    this.#claim = new Prepared(
      db,
      (arg) =>
        sql`INSERT INTO reservations (id, status, created_at, updated_at) VALUES (${arg(0)}, 'held', ${arg(1)}, ${arg(1)}) ON CONFLICT (id) DO NOTHING`,
      2,
    );
    // Arguments: quantity, product id.
    this.#decrement = new Prepared(
      db,
      (arg) =>
        sql`UPDATE products SET stock = stock - ${arg(0)} WHERE id = ${arg(1)} AND stock >= ${arg(0)} RETURNING stock, price_cents AS "unitPriceCents", currency`,
      2,
    );
    this.#insertItem = new Prepared(
      db,
      (arg) =>
        sql`INSERT INTO reservation_items (reservation_id, position, product_id, quantity, unit_price_cents, currency) VALUES (${arg(0)}, ${arg(1)}, ${arg(2)}, ${arg(3)}, ${arg(4)}, ${arg(5)})`,
      6,
    );
  }

  /**
   * Reserves every item of `req` (validated: non-empty, quantities >= 1, distinct products),
   * capturing unit prices; idempotent per reservation id.
   * @throws AppError NOT_FOUND `{ productId }`, OUT_OF_STOCK `{ productId, requested, available }`,
   *   CONFLICT when the id was released before, the `checkReservationTotal` error over
   *   `req.maxTotalCents`. The caller's transaction (or savepoint) must then be rolled back.
   */
  async reserve(trx: Transaction<CatalogTables>, req: ReserveStockRequest): Promise<ReserveOutcome> {
    const now = new Date().toISOString();
    // The reservation row first: a new id inserts (no separate status lookup on createOrder's
    // hot path); an existing one is left as is and its status decides. On PostgreSQL a
    // concurrent duplicate blocks here until this transaction ends, then finds the row.
    const claimed = await this.#claim.execute(trx, [req.reservationId, now]);
    if (Number(claimed.numAffectedRows ?? 0) === 0) {
      if ((await status(trx, req.reservationId)) === "released") {
        // Re-holding would hand stock to an order its caller already gave up on.
        throw new AppError(ErrorCode.CONFLICT, `reservation ${req.reservationId} was released`, { reservationId: req.reservationId });
      }
      return {
        reservation: { reservationId: req.reservationId, items: await reservedItems(trx, req.reservationId) },
        created: false,
        changes: [],
      };
    }
    await this.lockProducts(
      trx,
      req.items.map((i) => i.productId),
    );
    const items: ReservedItem[] = [];
    const changes: StockLevel[] = [];
    for (const item of req.items) {
      const [row] = (await this.#decrement.execute(trx, [item.quantity, item.productId])).rows;
      if (!row) {
        // Throwing rolls back the reservation row and the decrements already made for earlier items.
        const current = await trx.selectFrom("products").select("stock").where("id", "=", item.productId).executeTakeFirst();
        if (!current) throw new AppError(ErrorCode.NOT_FOUND, `product ${item.productId} not found`, { productId: item.productId });
        throw new AppError(
          ErrorCode.OUT_OF_STOCK,
          `only ${current.stock} of product ${item.productId} available, ${item.quantity} requested`,
          {
            productId: item.productId,
            requested: item.quantity,
            available: current.stock,
          },
        );
      }
      items.push({ productId: item.productId, quantity: item.quantity, unitPriceCents: row.unitPriceCents, currency: row.currency });
      changes.push({ productId: item.productId, stock: row.stock });
    }
    // At the prices just captured; throwing rolls back the decrements and the reservation row.
    checkReservationTotal(items, req.maxTotalCents);
    for (const [position, it] of items.entries()) {
      await this.#insertItem.execute(trx, [req.reservationId, position, it.productId, it.quantity, it.unitPriceCents, it.currency]);
    }
    return { reservation: { reservationId: req.reservationId, items }, created: true, changes };
  }

  /**
   * Returns the stock of a held reservation and marks it released. Release is final: an unknown
   * id is recorded as released (without items); a released or committed one is left as is.
   */
  async release(trx: Transaction<CatalogTables>, req: ReleaseStockRequest): Promise<ReleaseOutcome> {
    const now = new Date().toISOString();
    // An unknown id is recorded as released first (no items): a reserve with this id that
    // arrives later (a request delayed on the bus after its order gave up) is refused with
    // CONFLICT instead of holding stock that no order and no intent will ever release. On
    // PostgreSQL, if a reserve of this id is in flight, the insert waits for it; once it
    // committed, the insert does nothing and the update below (a new snapshot) releases it.
    await trx
      .insertInto("reservations")
      .values({ id: req.reservationId, status: "released", created_at: now, updated_at: now })
      .onConflict((oc) => oc.column("id").doNothing())
      .execute();
    // On PostgreSQL the row lock makes concurrent releases of one id wait; they then see 'released'.
    const held = await trx
      .updateTable("reservations")
      .set({ status: "released", updated_at: now })
      .where("id", "=", req.reservationId)
      .where("status", "=", "held")
      .executeTakeFirst();
    if (Number(held.numUpdatedRows) === 0) return { released: false, changes: [] };
    const items = await reservedItems(trx, req.reservationId);
    await this.lockProducts(
      trx,
      items.map((i) => i.productId),
    );
    const changes: StockLevel[] = [];
    for (const item of items) {
      const row = await trx
        .updateTable("products")
        .set((eb) => ({ stock: eb("stock", "+", item.quantity) }))
        .where("id", "=", item.productId)
        .returning("stock")
        .executeTakeFirst();
      // Products cannot be deleted while reservation items reference them (foreign key).
      if (row) changes.push({ productId: item.productId, stock: row.stock });
    }
    return { released: true, changes };
  }

  /**
   * Marks a held reservation committed (its order was paid), once per `eventId`: the id is
   * recorded in `inbox` in the same transaction, so a redelivered event changes nothing.
   */
  async commit(
    trx: Transaction<CatalogTables>,
    inbox: Inbox<CatalogTables>,
    reservationId: string,
    eventId: string,
  ): Promise<CommitOutcome> {
    if (!(await inbox.markProcessed(trx, ORDER_STATUS_CONSUMER, eventId))) return "duplicate";
    const updated = await trx
      .updateTable("reservations")
      .set({ status: "committed", updated_at: new Date().toISOString() })
      .where("id", "=", reservationId)
      .where("status", "=", "held")
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) > 0) return "committed";
    const s = await status(trx, reservationId);
    if (s === "committed") return "already-committed";
    if (s === "released") return "released";
    return "unknown";
  }

  /**
   * PostgreSQL: locks these products' rows in id order for the rest of the transaction (no-op on
   * SQLite). One product needs no order: its conditional update takes the only lock, and the
   * round trip saved is createOrder's usual case.
   */
  private async lockProducts(trx: Transaction<CatalogTables>, ids: readonly string[]): Promise<void> {
    if (this.#dialect !== "postgres" || ids.length < 2) return;
    await trx
      .selectFrom("products")
      .select("id")
      .where("id", "in", [...ids])
      .orderBy("id")
      .forNoKeyUpdate()
      .execute();
  }
}

async function status(db: CatalogDb, reservationId: string): Promise<string | undefined> {
  return (await db.selectFrom("reservations").select("status").where("id", "=", reservationId).executeTakeFirst())?.status;
}

/** Items of a reservation in request order. */
async function reservedItems(db: CatalogDb, reservationId: string): Promise<ReservedItem[]> {
  return db
    .selectFrom("reservation_items")
    .select(["product_id as productId", "quantity", "unit_price_cents as unitPriceCents", "currency"])
    .where("reservation_id", "=", reservationId)
    .orderBy("position")
    .execute();
}
