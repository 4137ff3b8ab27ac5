import type { Headers, OutboxSource } from "../../../kernel/index.ts";

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

/** Result of {@link OrderStore.transition}. */
export type TransitionOutcome =
  | { changed: true; order: OrderRecord; previous: OrderStatus }
  | { changed: false; order: OrderRecord | null };

/**
 * Persistence of orders: `SqlOrderStore` (store.ts) on SQLite or PostgreSQL; test doubles
 * implement it too. Money is integer cents throughout.
 */
export interface OrderStore {
  /**
   * The transactional outbox of the order database (real stores): every event below is
   * written in the transaction of its change; the kernel relays them (`ctx.relayOutbox`).
   */
  readonly outbox?: OutboxSource;
  /**
   * Writes an order and all its lines in one transaction: all or nothing. `events` (e.g.
   * `order.created`) go to the outbox in the same transaction, and the order's reservation
   * intent (`reservation_intents` row of `order.id`, if any) is deleted in it: once the order
   * exists there is nothing left to sweep, and one commit fewer per order than a separate delete.
   * With `opts.requireIntent` (checkouts that recorded one) the intent is the permission to
   * write: the order is written only if its intent exists and was not swept.
   * @throws AppError `SERVICE_UNAVAILABLE` (details `reason: "RESERVATION_EXPIRED"`) when the
   *   intent was swept (`SagaStore.sweepIntent`), or is gone and `requireIntent` is set: its
   *   stock is being (or was) released, so nothing is written. Exactly one of the order write
   *   and the sweeper wins. Store errors otherwise.
   */
  create(order: OrderRecord, events?: readonly OutboxMessage[], opts?: CreateOptions): Promise<void>;
  /** The order with this id (any owner), or null. */
  byId(id: string): Promise<OrderRecord | null>;
  /** An account's orders, newest (last written) first. */
  byAccount(accountId: string): Promise<OrderRecord[]>;
  /**
   * Moves an order to `to` if its current status is one of `from`, atomically (compare and
   * set: of two concurrent transitions from the same status, one wins). Returns the order
   * after the change and the status it had, or `{ changed: false }` with the order as it is
   * (null when it does not exist). A change writes its `order.status_changed` event (with
   * `opts.headers`) to the outbox in the same transaction, so it is published exactly when
   * the change committed.
   */
  transition(id: string, from: readonly OrderStatus[], to: OrderStatus, opts?: { headers?: Headers }): Promise<TransitionOutcome>;
  /** Closes the underlying connection. */
  close(): Promise<void>;
}

/** Options of {@link OrderStore.create}. */
export interface CreateOptions {
  /** Write the order only if its reservation intent exists (and was not swept). Default false. */
  requireIntent?: boolean;
}

/** An event to write to the outbox with a change. */
export interface OutboxMessage {
  subject: string;
  event: { eventId: string };
  headers?: Headers;
}
