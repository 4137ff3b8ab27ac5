/** Status of an order (GraphQL `OrderStatus`); stored as this text. */
export type OrderStatus = "PENDING" | "PAID" | "CANCELLED" | "PAYMENT_FAILED" | "SHIPPED";

/** One line of an order. */
export interface OrderItemRecord {
  productId: string;
  /** Units, integer >= 1. */
  quantity: number;
  /** Unit price when ordered, integer minor units. */
  unitPriceCents: number;
  /** ISO 4217 code; the same for every line of an order. */
  currency: string;
}

/** An order with its lines. */
export interface OrderRecord {
  /** KSUID; also the catalog reservation id. */
  id: string;
  accountId: string;
  status: OrderStatus;
  /** Sum of quantity × unitPriceCents over the lines, integer minor units. */
  totalCents: number;
  /** ISO 4217 code of every line. */
  currency: string;
  /** ISO-8601 UTC. */
  createdAt: string;
  /** Lines in input order. */
  items: OrderItemRecord[];
}

/**
 * Persistence of orders. Methods return promises so that a PostgreSQL implementation can be
 * dropped in; the SQLite one is synchronous underneath. Money is integer cents throughout.
 */
export interface OrderStore {
  /** Writes an order and all its lines in one transaction: all or nothing. */
  create(order: OrderRecord): Promise<void>;
  /** The order with this id (any owner), or null. */
  byId(id: string): Promise<OrderRecord | null>;
  /** An account's orders, newest (last written) first. */
  byAccount(accountId: string): Promise<OrderRecord[]>;
  /** Closes the underlying connection. */
  close(): Promise<void>;
}
