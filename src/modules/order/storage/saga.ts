import { limitExceeded, type AppError } from "../../../kernel/index.ts";
import { LimitNames } from "../limits.ts";

/**
 * Persistence of checkout sagas (`payOrder`), in the order module's database next to the
 * orders (table `payment_sagas`, migration 2). See `../saga.ts` for the state machine.
 */

/** The next action of a saga. `DONE` means finished (see the status for how). */
export type SagaStep = "AUTHORIZE" | "CAPTURE" | "MARK_PAID" | "VOID" | "REFUND" | "RELEASE_STOCK" | "MARK_FAILED" | "DONE";
/** RUNNING (forward), COMPENSATING (undoing), SUCCEEDED (order PAID), FAILED (compensated). */
export type SagaStatus = "RUNNING" | "COMPENSATING" | "SUCCEEDED" | "FAILED";

export interface SagaRecord {
  orderId: string;
  /** Chosen when the saga starts; the payment module's payment id. */
  paymentId: string;
  accountId: string;
  /** Card token of the payOrder call (sandbox tokens such as `tok_visa`, not card numbers). */
  token: string;
  amountCents: number;
  currency: string;
  step: SagaStep;
  status: SagaStatus;
  /** Error code the saga failed with (e.g. `PAYMENT_DECLINED`), replayed to repeated payOrder calls. */
  failureCode: string | null;
  failureMessage: string | null;
  /** Idempotency keys of the payment commands (one per command, fixed at start). */
  authorizeKey: string;
  captureKey: string;
  voidKey: string;
  refundKey: string;
  /** Failed attempts of the current step (transport errors), reset on each step change. */
  attempts: number;
  /** Epoch ms until which an instance drives the saga; another instance resumes it after. */
  leaseUntil: number;
  /** ISO-8601 UTC. */
  createdAt: string;
  updatedAt: string;
}

/** What a step change sets. */
export interface SagaAdvance {
  step: SagaStep;
  status: SagaStatus;
  failureCode?: string | null;
  failureMessage?: string | null;
}

/** The unpaid-orders limit an intent is checked against. */
export interface PendingLimit {
  accountId: string;
  /** `ORDER_MAX_PENDING`: most PENDING orders plus orders being placed of that account. */
  maxPending: number;
}

/** The error of an intent refused by {@link PendingLimit} (`pending` = what the account holds). */
export const pendingLimitExceeded = (maxPending: number, pending: number): AppError =>
  limitExceeded(LimitNames.maxPending, maxPending, `at most ${maxPending} unpaid orders per account; pay or cancel one first`, { pending });

export interface SagaStore {
  /** Inserts `saga` unless the order has one; returns the order's saga and whether this call created it. */
  start(saga: SagaRecord): Promise<{ saga: SagaRecord; created: boolean }>;
  get(orderId: string): Promise<SagaRecord | null>;
  /**
   * Compare-and-set on the step: moves the saga from `fromStep` to `next` (attempts reset, lease
   * extended to `leaseUntil`). @returns the saga after the change, or null when its step is no
   * longer `fromStep` (another instance advanced it).
   */
  advance(orderId: string, fromStep: SagaStep, next: SagaAdvance, leaseUntil: number): Promise<SagaRecord | null>;
  /** Counts a failed attempt of the current step and extends the lease. */
  failedAttempt(orderId: string, leaseUntil: number): Promise<void>;
  /** Takes the lease when it expired before `now` (epoch ms). @returns whether this call took it. */
  claim(orderId: string, now: number, leaseUntil: number): Promise<boolean>;
  /** Unfinished sagas (RUNNING or COMPENSATING) whose lease expired before `now`, oldest first. */
  unfinished(now: number, limit: number): Promise<SagaRecord[]>;
  /** Ids of PENDING orders created before `cutoff` (ISO) that have no saga, oldest first. */
  unpaidBefore(cutoff: string, limit: number): Promise<string[]>;
  /**
   * Records that stock is about to be reserved for order `orderId` (not written yet). With
   * `pending`, atomically per account (serialised with the account's other `addIntent` calls,
   * on every instance): counts the account's PENDING orders plus its intents whose order does
   * not exist yet, and records the intent only when that count is below `pending.maxPending`.
   * @throws AppError `LIMIT_EXCEEDED` (`limitName` `ORDER_MAX_PENDING`, `limit`, `pending`): nothing recorded.
   */
  addIntent(orderId: string, pending?: PendingLimit): Promise<void>;
  /** Forgets the intent (the order was written, or its reservation released). */
  dropIntent(orderId: string): Promise<void>;
  /**
   * Intents created more than `olderThanMs` ago, plus every swept one, oldest first, with
   * whether their order exists: an intent without an order is a reservation that may be held
   * for nothing. PostgreSQL measures the age on the database's clock (as it stamped them).
   */
  staleIntents(olderThanMs: number, limit: number): Promise<StaleIntent[]>;
  /**
   * Compare-and-set: marks the intent of `orderId` swept if it is not yet and its order does
   * not exist. From then on the order can no longer be written (`OrderStore.create` fails on a
   * swept intent), so its reservation may be released. @returns whether this call swept it.
   */
  sweepIntent(orderId: string): Promise<boolean>;
}

/** A reservation intent the sweeper looks at (see {@link SagaStore.staleIntents}). */
export interface StaleIntent {
  orderId: string;
  /** The order was written (the intent is a leftover: just drop it). */
  orderExists: boolean;
  /** Already swept (by this or another instance): release and drop it. */
  swept: boolean;
}
