import {
  AppError,
  ErrorCode,
  isPgUniqueViolation,
  migratePostgres,
  openPostgres,
  PostgresOutbox,
  type Logger,
  type PgSql,
} from "../../../kernel/index.ts";
import { ACCOUNT_PG_MIGRATIONS } from "./migrations.pg.ts";
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

/** A row of `accounts` as selected. */
interface AccountRow {
  id: string;
  name: string;
  email: string;
  roles: string[];
  createdAt: Date;
  disabledAt: Date | null;
}

const toRecord = (row: AccountRow): AccountRecord => ({
  id: row.id,
  name: row.name,
  email: row.email,
  roles: row.roles,
  createdAt: row.createdAt.toISOString(),
  disabledAt: row.disabledAt?.toISOString() ?? null,
});

/** Thrown inside a transaction to roll it back with an outcome (nothing written). */
class Outcome {
  constructor(readonly value: RotateOutcome) {}
}

/**
 * Opens a pool on the account database, migrates it and returns a store on it.
 * @param url PostgreSQL URL (its `search_path` parameter selects the schema).
 * @throws MigrationError when the database was migrated by newer code; the driver's error
 *   when the database is unreachable. The pool is closed on failure.
 */
export async function openPostgresAccountStore(url: string, opts: { poolMax: number; logger?: Logger }): Promise<PostgresAccountStore> {
  const sql = openPostgres(url, opts);
  try {
    await migratePostgres(sql, ACCOUNT_PG_MIGRATIONS);
  } catch (err) {
    await sql.end({ timeout: 5 });
    throw err;
  }
  return new PostgresAccountStore(sql);
}

/** {@link AccountStore} on a PostgreSQL pool. Timestamps are `timestamptz`, returned as ISO strings. */
export class PostgresAccountStore implements AccountStore {
  readonly outbox: PostgresOutbox;

  constructor(readonly sql: PgSql) {
    this.outbox = new PostgresOutbox(sql);
  }

  async create(a: NewAccount, events: readonly AccountOutboxMessage[] = []): Promise<void> {
    try {
      await this.sql.begin(async (tx) => {
        await tx`
          INSERT INTO accounts (id, name, email, password_hash, roles, created_at)
          VALUES (${a.id}, ${a.name}, ${a.email}, ${a.passwordHash}, ${tx.array(a.roles)}, ${a.createdAt})`;
        for (const e of events) await this.outbox.add(tx, e.subject, e.event, e.headers);
      });
    } catch (err) {
      if (isPgUniqueViolation(err, "accounts_email_key"))
        throw new AppError(ErrorCode.EMAIL_TAKEN, "an account with this e-mail already exists");
      throw err;
    }
    if (events.length > 0) void this.outbox.committed(events.map((e) => e.subject));
  }

  async byId(id: string): Promise<AccountRecord | null> {
    const [row] = await this.sql<
      AccountRow[]
    >`SELECT id, name, email, roles, created_at AS "createdAt", disabled_at AS "disabledAt" FROM accounts WHERE id = ${id}`;
    return row ? toRecord(row) : null;
  }

  async credentialsByEmail(email: string): Promise<Credentials | null> {
    const [row] = await this.sql<(AccountRow & { passwordHash: string })[]>`
      SELECT id, name, email, roles, created_at AS "createdAt", disabled_at AS "disabledAt", password_hash AS "passwordHash" FROM accounts WHERE email = ${email}`;
    return row ? { account: toRecord(row), passwordHash: row.passwordHash } : null;
  }

  async addRole(id: string, role: string): Promise<AccountRecord | null> {
    // One statement (row-locked): appends only when absent, so concurrent grants cannot double it.
    await this.sql`UPDATE accounts SET roles = array_append(roles, ${role}::text) WHERE id = ${id} AND NOT (${role}::text = ANY(roles))`;
    return this.byId(id);
  }

  async createSession(session: NewSession, token: NewRefreshToken): Promise<boolean> {
    return this.sql.begin(async (tx) => {
      // FOR SHARE: a concurrent disable (UPDATE of the row) waits for this session, then revokes it.
      const rows = await tx`
        INSERT INTO sessions (id, account_id, created_at)
        SELECT ${session.id}, id, ${session.createdAt} FROM accounts WHERE id = ${session.accountId} AND disabled_at IS NULL FOR SHARE
        RETURNING id`;
      if (rows.length === 0) return false;
      await tx`INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES (${token.hash}, ${session.id}, ${token.createdAt}, ${token.expiresAt})`;
      return true;
    });
  }

  async rotateRefreshToken(hash: string, next: NewRefreshToken, now: string): Promise<RotateOutcome> {
    try {
      return await this.sql.begin(async (tx): Promise<RotateOutcome> => {
        // FOR UPDATE OF t: two rotations of one token serialise; the second sees used_at set (reuse).
        const [row] = await tx<
          { sessionId: string; expiresAt: Date; usedAt: Date | null; accountId: string; revokedAt: Date | null; disabledAt: Date | null }[]
        >`
          SELECT t.session_id AS "sessionId", t.expires_at AS "expiresAt", t.used_at AS "usedAt", s.account_id AS "accountId", s.revoked_at AS "revokedAt", a.disabled_at AS "disabledAt"
          FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id JOIN accounts a ON a.id = s.account_id
          WHERE t.token_hash = ${hash} FOR UPDATE OF t`;
        if (!row) throw new Outcome({ kind: "unknown" });
        if (row.revokedAt !== null) throw new Outcome({ kind: "revoked" });
        if (row.disabledAt !== null) throw new Outcome({ kind: "disabled" });
        if (row.usedAt !== null) throw new Outcome({ kind: "reused", sessionId: row.sessionId, accountId: row.accountId });
        if (row.expiresAt.getTime() <= Date.parse(now)) throw new Outcome({ kind: "expired" });
        await tx`UPDATE refresh_tokens SET used_at = ${now} WHERE token_hash = ${hash}`;
        await tx`INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES (${next.hash}, ${row.sessionId}, ${next.createdAt}, ${next.expiresAt})`;
        const [account] = await tx<
          AccountRow[]
        >`SELECT id, name, email, roles, created_at AS "createdAt", disabled_at AS "disabledAt" FROM accounts WHERE id = ${row.accountId}`;
        if (!account) throw new Error(`account ${row.accountId} of session ${row.sessionId} not found`);
        return { kind: "rotated", sessionId: row.sessionId, account: toRecord(account) };
      });
    } catch (err) {
      if (err instanceof Outcome) return err.value;
      throw err;
    }
  }

  async sessionOfRefreshToken(hash: string): Promise<{ sessionId: string; accountId: string } | null> {
    const [row] = await this.sql<{ sessionId: string; accountId: string }[]>`
      SELECT s.id AS "sessionId", s.account_id AS "accountId" FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = ${hash}`;
    return row ?? null;
  }

  async revokeSession(
    sessionId: string,
    accountId: string,
    revokedAt: string,
    reason: string,
    event: AccountOutboxMessage,
  ): Promise<boolean> {
    const revoked = await this.sql.begin(async (tx) => {
      const rows =
        await tx`UPDATE sessions SET revoked_at = ${revokedAt}, revoke_reason = ${reason} WHERE id = ${sessionId} AND account_id = ${accountId} AND revoked_at IS NULL RETURNING id`;
      if (rows.length === 0) return false;
      await this.outbox.add(tx, event.subject, event.event, event.headers);
      return true;
    });
    if (revoked) void this.outbox.committed([event.subject]);
    return revoked;
  }

  async setDisabled(id: string, disabledAt: string | null, event: AccountOutboxMessage): Promise<AccountRecord | null> {
    const changed = await this.sql.begin(async (tx) => {
      const rows =
        disabledAt === null
          ? await tx`UPDATE accounts SET disabled_at = NULL WHERE id = ${id} AND disabled_at IS NOT NULL RETURNING id`
          : await tx`UPDATE accounts SET disabled_at = ${disabledAt} WHERE id = ${id} AND disabled_at IS NULL RETURNING id`;
      if (rows.length === 0) return false;
      if (disabledAt !== null)
        await tx`UPDATE sessions SET revoked_at = ${disabledAt}, revoke_reason = 'disabled' WHERE account_id = ${id} AND revoked_at IS NULL`;
      await this.outbox.add(tx, event.subject, event.event, event.headers);
      return true;
    });
    if (changed) void this.outbox.committed([event.subject]);
    return this.byId(id);
  }

  async pruneRefreshTokens(before: string, limit: number): Promise<number> {
    const rows = await this
      .sql`DELETE FROM refresh_tokens WHERE token_hash IN (SELECT token_hash FROM refresh_tokens WHERE expires_at < ${before} LIMIT ${limit}) RETURNING 1`;
    return rows.length;
  }

  async sessionStatus(accountId: string, sessionId: string | undefined): Promise<SessionStatus> {
    const [account] = await this.sql<
      { disabled: boolean }[]
    >`SELECT disabled_at IS NOT NULL AS disabled FROM accounts WHERE id = ${accountId}`;
    if (!account) return { exists: false, disabled: false, session: sessionId === undefined ? "none" : "unknown" };
    if (sessionId === undefined) return { exists: true, disabled: account.disabled, session: "none" };
    const [s] = await this.sql<
      { accountId: string; revoked: boolean }[]
    >`SELECT account_id AS "accountId", revoked_at IS NOT NULL AS revoked FROM sessions WHERE id = ${sessionId}`;
    const session = !s ? "unknown" : s.accountId !== accountId ? "other" : s.revoked ? "revoked" : "active";
    return { exists: true, disabled: account.disabled, session };
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}
