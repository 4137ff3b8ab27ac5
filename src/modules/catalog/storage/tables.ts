import { type Generated, type Kysely, type SelectQueryBuilder, sql } from "kysely";
import type { ProductRecord } from "./types.ts";

/**
 * The catalog database's tables as the store uses them (see migrations.ts). Timestamps are
 * ISO-8601 UTC strings on both databases, money integer cents. Tables only one dialect has
 * (`products_fts`, the inbox, the outbox) are queried with plain SQL.
 */
export interface CatalogTables {
  categories: { id: string; name: string };
  products: {
    /** SQLite only: the FTS content rowid (never selected). */
    seq: Generated<number>;
    id: string;
    category_id: string;
    name: string;
    description: string;
    price_cents: number;
    currency: string;
    stock: number;
    created_at: string;
  };
  reservations: { id: string; status: ReservationStatus; created_at: string; updated_at: string };
  reservation_items: {
    reservation_id: string;
    /** Index of the item in the request, from 0. */
    position: number;
    product_id: string;
    quantity: number;
    unit_price_cents: number;
    currency: string;
  };
  search_state: { id: number; generation: number };
}

/** A reservation's state: held until its order is paid (committed) or given up (released). */
export type ReservationStatus = "held" | "released" | "committed";

/** The catalog database as the store's helpers take it: the instance or a transaction. */
export type CatalogDb = Kysely<CatalogTables>;

/**
 * The columns of a {@link ProductRecord} from `products p JOIN categories c`, for the plain-SQL
 * search queries (aliases quoted: PostgreSQL folds unquoted ones to lower case).
 */
export const PRODUCT_COLUMNS = sql.raw(`p.id, p.name, p.description, p.price_cents AS "priceCents", p.currency, p.stock,
  p.category_id AS "categoryId", c.name AS "categoryName", p.created_at AS "createdAt"`);

/** `SELECT <product columns> FROM products p JOIN categories c`: the base of every product read. */
export function selectProducts(
  db: CatalogDb,
): SelectQueryBuilder<CatalogTables & { p: CatalogTables["products"]; c: CatalogTables["categories"] }, "p" | "c", ProductRecord> {
  return db
    .selectFrom("products as p")
    .innerJoin("categories as c", "c.id", "p.category_id")
    .select([
      "p.id",
      "p.name",
      "p.description",
      "p.price_cents as priceCents",
      "p.currency",
      "p.stock",
      "p.category_id as categoryId",
      "c.name as categoryName",
      "p.created_at as createdAt",
    ]);
}
