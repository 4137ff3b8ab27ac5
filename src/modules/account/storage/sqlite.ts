import { AppError, ErrorCode, migrateSqlite, openSqlite, SqliteOutbox, type Database } from "../../../kernel/index.ts";
import { ACCOUNT_MIGRATIONS } from "./migrations.ts";
import type {
  AccountOutboxMessage,
  AccountRecord,
  AccountStore,
  Credentials,
  NewAccount,
  NewRefreshToken,
  NewSession,
  RotateOutcome,
  SessionStatus,
} from "./types.ts";

/** A row of `accounts` as selected (roles still JSON text). */
interface AccountRow {
  id: string;
  name: string;
  email: string;
  roles: string;
  createdAt: string;
  disabledAt: string | null;
}

const COLUMNS = "id, name, email, roles, created_at AS createdAt, disabled_at AS disabledAt";

const toRecord = (row: AccountRow): AccountRecord => ({
  id: row.id,
  name: row.name,
  email: row.email,
  roles: JSON.parse(row.roles) as string[],
  createdAt: row.createdAt,
  disabledAt: row.disabledAt,
});

/** A refresh token with its session and account, as {@link SqliteAccountStore.rotateRefreshToken} reads it. */
interface TokenRow {
  sessionId: string;
  expiresAt: string;
  usedAt: string | null;
  accountId: string;
  revokedAt: string | null;
  disabledAt: string | null;
}

/** True for SQLite's unique-constraint violation (bun:sqlite sets `code` on its errors). */
const isUniqueViolation = (err: unknown): boolean =>
  typeof err === "object" && err !== null && (err as { code?: unknown }).code === "SQLITE_CONSTRAINT_UNIQUE";

/**
 * Opens (creating and migrating) the account database and returns a store on it.
 * @param path database file, or `":memory:"`.
 * @throws MigrationError when the database was migrated by newer code.
 */
export function openSqliteAccountStore(path: string): SqliteAccountStore {
  const db = openSqlite(path);
  try {
    migrateSqlite(db, ACCOUNT_MIGRATIONS);
  } catch (err) {
    db.close();
    throw err;
  }
  return new SqliteAccountStore(db);
}

/** {@link AccountStore} on bun:sqlite. */
export class SqliteAccountStore implements AccountStore {
  readonly outbox: SqliteOutbox;
  private readonly createTx;
  private readonly rotateTx;
  private readonly revokeTx;
  private readonly setDisabledTx;

  constructor(readonly db: Database) {
    this.outbox = new SqliteOutbox(db);
    this.createTx = db.transaction((a: NewAccount, events: readonly AccountOutboxMessage[]) => {
      db.query("INSERT INTO accounts (id, name, email, password_hash, roles, created_at) VALUES (?, ?, ?, ?, ?, ?)").run(
        a.id,
        a.name,
        a.email,
        a.passwordHash,
        JSON.stringify(a.roles),
        a.createdAt,
      );
      for (const e of events) this.outbox.add(e.subject, e.event, e.headers);
    }).immediate;
    this.rotateTx = db.transaction((hash: string, next: NewRefreshToken, now: string): RotateOutcome => {
      const row = db
        .query<TokenRow, [string]>(
          `SELECT t.session_id AS sessionId, t.expires_at AS expiresAt, t.used_at AS usedAt, s.account_id AS accountId, s.revoked_at AS revokedAt, a.disabled_at AS disabledAt
           FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id JOIN accounts a ON a.id = s.account_id WHERE t.token_hash = ?`,
        )
        .get(hash);
      if (!row) return { kind: "unknown" };
      if (row.revokedAt !== null) return { kind: "revoked" };
      if (row.disabledAt !== null) return { kind: "disabled" };
      if (row.usedAt !== null) return { kind: "reused", sessionId: row.sessionId, accountId: row.accountId };
      // ISO-8601 UTC strings of one format compare as instants.
      if (row.expiresAt <= now) return { kind: "expired" };
      db.query("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ?").run(now, hash);
      db.query("INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES (?, ?, ?, ?)").run(
        next.hash,
        row.sessionId,
        next.createdAt,
        next.expiresAt,
      );
      const account = db.query<AccountRow, [string]>(`SELECT ${COLUMNS} FROM accounts WHERE id = ?`).get(row.accountId);
      if (!account) throw new Error(`account ${row.accountId} of session ${row.sessionId} not found`);
      return { kind: "rotated", sessionId: row.sessionId, account: toRecord(account) };
    }).immediate;
    this.revokeTx = db.transaction(
      (sessionId: string, accountId: string, revokedAt: string, reason: string, event: AccountOutboxMessage): boolean => {
        const { changes } = db
          .query("UPDATE sessions SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND account_id = ? AND revoked_at IS NULL")
          .run(revokedAt, reason, sessionId, accountId);
        if (changes === 0) return false;
        this.outbox.add(event.subject, event.event, event.headers);
        return true;
      },
    ).immediate;
    this.setDisabledTx = db.transaction((id: string, disabledAt: string | null, event: AccountOutboxMessage): boolean => {
      const { changes } =
        disabledAt === null
          ? db.query("UPDATE accounts SET disabled_at = NULL WHERE id = ? AND disabled_at IS NOT NULL").run(id)
          : db.query("UPDATE accounts SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL").run(disabledAt, id);
      if (changes === 0) return false;
      if (disabledAt !== null)
        db.query("UPDATE sessions SET revoked_at = ?, revoke_reason = 'disabled' WHERE account_id = ? AND revoked_at IS NULL").run(
          disabledAt,
          id,
        );
      this.outbox.add(event.subject, event.event, event.headers);
      return true;
    }).immediate;
  }

  async create(a: NewAccount, events: readonly AccountOutboxMessage[] = []): Promise<void> {
    try {
      this.createTx(a, events);
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError(ErrorCode.EMAIL_TAKEN, "an account with this e-mail already exists");
      throw err;
    }
    if (events.length > 0) void this.outbox.committed(events.map((e) => e.subject));
  }

  async byId(id: string): Promise<AccountRecord | null> {
    const row = this.db.query<AccountRow, [string]>(`SELECT ${COLUMNS} FROM accounts WHERE id = ?`).get(id);
    return row ? toRecord(row) : null;
  }

  async credentialsByEmail(email: string): Promise<Credentials | null> {
    const row = this.db
      .query<AccountRow & { passwordHash: string }, [string]>(
        `SELECT ${COLUMNS}, password_hash AS passwordHash FROM accounts WHERE email = ?`,
      )
      .get(email);
    return row ? { account: toRecord(row), passwordHash: row.passwordHash } : null;
  }

  async addRole(id: string, role: string): Promise<AccountRecord | null> {
    // One statement: appends only when absent, so a concurrent grant cannot be lost or doubled.
    this.db
      .query(
        "UPDATE accounts SET roles = json_insert(roles, '$[#]', ?1) WHERE id = ?2 AND NOT EXISTS (SELECT 1 FROM json_each(accounts.roles) WHERE value = ?1)",
      )
      .run(role, id);
    return this.byId(id);
  }

  async createSession(session: NewSession, token: NewRefreshToken): Promise<boolean> {
    // One statement per table in one transaction; the account check is in the first insert.
    return this.db
      .transaction((): boolean => {
        const { changes } = this.db
          .query("INSERT INTO sessions (id, account_id, created_at) SELECT ?1, id, ?2 FROM accounts WHERE id = ?3 AND disabled_at IS NULL")
          .run(session.id, session.createdAt, session.accountId);
        if (changes === 0) return false;
        this.db
          .query("INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES (?, ?, ?, ?)")
          .run(token.hash, session.id, token.createdAt, token.expiresAt);
        return true;
      })
      .immediate();
  }

  async rotateRefreshToken(hash: string, next: NewRefreshToken, now: string): Promise<RotateOutcome> {
    return this.rotateTx(hash, next, now);
  }

  async sessionOfRefreshToken(hash: string): Promise<{ sessionId: string; accountId: string } | null> {
    return (
      this.db
        .query<{ sessionId: string; accountId: string }, [string]>(
          "SELECT s.id AS sessionId, s.account_id AS accountId FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = ?",
        )
        .get(hash) ?? null
    );
  }

  async revokeSession(
    sessionId: string,
    accountId: string,
    revokedAt: string,
    reason: string,
    event: AccountOutboxMessage,
  ): Promise<boolean> {
    const revoked = this.revokeTx(sessionId, accountId, revokedAt, reason, event);
    if (revoked) void this.outbox.committed([event.subject]);
    return revoked;
  }

  async setDisabled(id: string, disabledAt: string | null, event: AccountOutboxMessage): Promise<AccountRecord | null> {
    if (this.setDisabledTx(id, disabledAt, event)) void this.outbox.committed([event.subject]);
    return this.byId(id);
  }

  async pruneRefreshTokens(before: string, limit: number): Promise<number> {
    return this.db
      .query("DELETE FROM refresh_tokens WHERE rowid IN (SELECT rowid FROM refresh_tokens WHERE expires_at < ? LIMIT ?)")
      .run(before, limit).changes;
  }

  async sessionStatus(accountId: string, sessionId: string | undefined): Promise<SessionStatus> {
    const account = this.db
      .query<{ disabledAt: string | null }, [string]>("SELECT disabled_at AS disabledAt FROM accounts WHERE id = ?")
      .get(accountId);
    if (!account) return { exists: false, disabled: false, session: sessionId === undefined ? "none" : "unknown" };
    const disabled = account.disabledAt !== null;
    if (sessionId === undefined) return { exists: true, disabled, session: "none" };
    const s = this.db
      .query<{ accountId: string; revokedAt: string | null }, [string]>(
        "SELECT account_id AS accountId, revoked_at AS revokedAt FROM sessions WHERE id = ?",
      )
      .get(sessionId);
    const session = !s ? "unknown" : s.accountId !== accountId ? "other" : s.revokedAt !== null ? "revoked" : "active";
    return { exists: true, disabled, session };
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
