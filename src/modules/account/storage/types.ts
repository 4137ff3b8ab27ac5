import type { Headers, OutboxSource } from "../../../kernel/index.ts";

/** An account as stored, without its credentials. */
export interface AccountRecord {
  /** KSUID. */
  id: string;
  name: string;
  /** Normalised (trimmed, lower case); unique. */
  email: string;
  /** e.g. `["customer"]`. */
  roles: string[];
  /** ISO-8601 UTC. */
  createdAt: string;
}

/** An account to insert. */
export interface NewAccount extends AccountRecord {
  /** PHC-format hash (`$argon2id$...`); never the password itself. */
  passwordHash: string;
}

/** What login needs: the account and its password hash. */
export interface Credentials {
  account: AccountRecord;
  passwordHash: string;
}

/**
 * Persistence of accounts. Methods return promises so that a PostgreSQL implementation can be
 * dropped in; the SQLite one is synchronous underneath.
 */
export interface AccountStore {
  /**
   * Inserts an account.
   * @throws AppError `EMAIL_TAKEN` when the (normalised) e-mail exists: enforced by a unique
   *   constraint, so two concurrent registrations cannot both succeed. `events` (e.g.
   *   `account.registered`) are written to the outbox in the same transaction.
   */
  create(account: NewAccount, events?: readonly AccountOutboxMessage[]): Promise<void>;
  /** The outbox `create` writes `events` to (transactional outbox; the kernel relays it). */
  readonly outbox?: OutboxSource;
  /** The account with this id, or null. */
  byId(id: string): Promise<AccountRecord | null>;
  /** Account and password hash by normalised e-mail, or null. */
  credentialsByEmail(email: string): Promise<Credentials | null>;
  /**
   * Adds `role` to the account's roles (a no-op when it has it already), atomically: two
   * concurrent grants never lose a role.
   * @returns the account after the change, or null when `id` is unknown.
   */
  addRole(id: string, role: string): Promise<AccountRecord | null>;
  /** Closes the underlying connection. */
  close(): Promise<void>;
}

/** An event written to the outbox with a change. */
export interface AccountOutboxMessage {
  subject: string;
  event: { eventId: string };
  headers?: Headers;
}
