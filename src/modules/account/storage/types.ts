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
  /** ISO-8601 UTC when an admin disabled the account; null while enabled. */
  disabledAt: string | null;
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
  /**
   * Starts a session (refresh-token family) with its first refresh token, only if the account
   * exists and is enabled (checked in the same statement, so a concurrent disable wins).
   * @returns false when the account is missing or disabled (nothing written).
   */
  createSession(session: NewSession, token: NewRefreshToken): Promise<boolean>;
  /**
   * Rotates a refresh token: marks `hash` used and stores `next` in the same session, in one
   * transaction, only when `hash` is known, unused, unexpired at `now`, its session is not
   * revoked and its account is enabled. Of two concurrent rotations of one token, one wins and
   * the other sees `reused`. Writes nothing unless it returns `rotated`.
   */
  rotateRefreshToken(hash: string, next: NewRefreshToken, now: string): Promise<RotateOutcome>;
  /** The session a refresh token (by hash) belongs to, or null when unknown. */
  sessionOfRefreshToken(hash: string): Promise<{ sessionId: string; accountId: string } | null>;
  /**
   * Revokes a session of `accountId` (its refresh tokens stop rotating; gateways refuse its
   * access tokens), writing `event` to the outbox in the same transaction, only if it was
   * not revoked yet.
   * @returns true when this call revoked it; false when unknown, of another account, or already revoked.
   */
  revokeSession(sessionId: string, accountId: string, revokedAt: string, reason: string, event: AccountOutboxMessage): Promise<boolean>;
  /**
   * Disables (`disabledAt` set) or enables (`disabledAt` null) an account. Disabling also
   * revokes every open session of it. `event` goes to the outbox in the same transaction,
   * only when the status changed.
   * @returns the account after the call (unchanged when it already had that status), or null when `id` is unknown.
   */
  setDisabled(id: string, disabledAt: string | null, event: AccountOutboxMessage): Promise<AccountRecord | null>;
  /**
   * Deletes up to `limit` refresh tokens that expired before `before` (ISO-8601 UTC). Harmless
   * to rotation: an expired token can no longer rotate, so its reuse need not be detected.
   * Sessions are kept (the gateway's check still finds revoked ones).
   * @returns how many were deleted.
   */
  pruneRefreshTokens(before: string, limit: number): Promise<number>;
  /** What the gateway's session check needs: whether the account exists and is enabled, and the session's state. */
  sessionStatus(accountId: string, sessionId: string | undefined): Promise<SessionStatus>;
  /** Closes the underlying connection. */
  close(): Promise<void>;
}

/** A session (refresh-token family) to insert. */
export interface NewSession {
  /** KSUID; the `sid` claim of its access tokens. */
  id: string;
  accountId: string;
  /** ISO-8601 UTC. */
  createdAt: string;
}

/** A refresh token to insert: only its hash is stored. */
export interface NewRefreshToken {
  /** Hex SHA-256 of the token string. */
  hash: string;
  /** ISO-8601 UTC. */
  createdAt: string;
  /** ISO-8601 UTC; refused from then on. */
  expiresAt: string;
}

/** Result of {@link AccountStore.rotateRefreshToken}. */
export type RotateOutcome =
  | { kind: "rotated"; sessionId: string; account: AccountRecord }
  /** Unknown token. */
  | { kind: "unknown" }
  | { kind: "expired" }
  /** Its session was revoked (logout, disable, or an earlier reuse). */
  | { kind: "revoked" }
  | { kind: "disabled" }
  /** Already used: the caller revokes the session (the family). */
  | { kind: "reused"; sessionId: string; accountId: string };

/** Result of {@link AccountStore.sessionStatus}. */
export interface SessionStatus {
  /** False when no account has this id. */
  exists: boolean;
  disabled: boolean;
  /**
   * The session: `active`, `revoked`, `other` (it belongs to another account), `unknown`
   * (no such session) or `none` (no session id asked).
   */
  session: "active" | "revoked" | "other" | "unknown" | "none";
}

/** An event written to the outbox with a change. */
export interface AccountOutboxMessage {
  subject: string;
  event: { eventId: string };
  headers?: Headers;
}
