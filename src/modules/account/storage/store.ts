import { type Kysely, sql } from "kysely";
import {
  AppError,
  type DatabaseConfig,
  ErrorCode,
  isUniqueViolation,
  type Logger,
  type ModuleDb,
  Outbox,
  openMigratedDatabase,
} from "../../../kernel/index.ts";
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

/**
 * The account database's tables (see migrations.ts). Timestamps are ISO-8601 strings. `roles`
 * differs per database: JSON text on SQLite, `text[]` on PostgreSQL (see {@link rolesOf}).
 */
interface Tables {
  accounts: {
    id: string;
    name: string;
    email: string;
    password_hash: string;
    roles: string | string[];
    created_at: string;
    disabled_at: string | null;
  };
  sessions: { id: string; account_id: string; created_at: string; revoked_at: string | null; revoke_reason: string | null };
  refresh_tokens: { token_hash: string; session_id: string; created_at: string; expires_at: string; used_at: string | null };
}

const COLUMNS = ["id", "name", "email", "roles", "created_at as createdAt", "disabled_at as disabledAt"] as const;

/** A row of `accounts` as selected with {@link COLUMNS}. */
interface AccountRow {
  id: string;
  name: string;
  email: string;
  roles: string | string[];
  createdAt: string;
  disabledAt: string | null;
}

/** Roles as stored: a `text[]` (PostgreSQL, parsed by the driver) or a JSON array (SQLite). */
const rolesOf = (v: string | string[]): string[] => (Array.isArray(v) ? v : (JSON.parse(v) as string[]));

const toRecord = (row: AccountRow): AccountRecord => ({
  id: row.id,
  name: row.name,
  email: row.email,
  roles: rolesOf(row.roles),
  createdAt: row.createdAt,
  disabledAt: row.disabledAt,
});

/**
 * Opens the account database (SQLite file or PostgreSQL pool), migrates it and returns a store on it.
 * @throws MigrationError when the database was migrated by newer code; the driver's error when
 *   it cannot be opened (the database is closed on failure).
 */
export async function openAccountDatabase(config: DatabaseConfig, logger?: Logger): Promise<SqlAccountStore> {
  return new SqlAccountStore(await openMigratedDatabase<Tables>(config, ACCOUNT_MIGRATIONS, logger ? { logger } : {}));
}

/**
 * {@link AccountStore} on either database. Concurrency: SQLite's `BEGIN IMMEDIATE` serialises
 * writers; PostgreSQL takes row locks where a read decides a write (`FOR UPDATE OF t` on a
 * rotated token, `FOR SHARE` on the account a session is created for).
 */
export class SqlAccountStore implements AccountStore {
  readonly outbox: Outbox<Tables>;
  readonly #mdb: ModuleDb<Tables>;
  readonly #db: Kysely<Tables>;
  readonly #pg: boolean;

  constructor(mdb: ModuleDb<Tables>) {
    this.#mdb = mdb;
    this.#db = mdb.db;
    this.#pg = mdb.dialect === "postgres";
    this.outbox = new Outbox(mdb);
  }

  async create(a: NewAccount, events: readonly AccountOutboxMessage[] = []): Promise<void> {
    try {
      await this.#db.transaction().execute(async (trx) => {
        await trx
          .insertInto("accounts")
          .values({
            id: a.id,
            name: a.name,
            email: a.email,
            password_hash: a.passwordHash,
            roles: this.#pg ? a.roles : JSON.stringify(a.roles),
            created_at: a.createdAt,
          })
          .execute();
        for (const e of events) await this.outbox.add(trx, e.subject, e.event, e.headers);
      });
    } catch (err) {
      if (isUniqueViolation(err, { table: "accounts", columns: "email" }))
        throw new AppError(ErrorCode.EMAIL_TAKEN, "an account with this e-mail already exists");
      throw err;
    }
    if (events.length > 0) void this.outbox.committed(events.map((e) => e.subject));
  }

  async byId(id: string): Promise<AccountRecord | null> {
    const row = await this.#db.selectFrom("accounts").select(COLUMNS).where("id", "=", id).executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  async credentialsByEmail(email: string): Promise<Credentials | null> {
    const row = await this.#db
      .selectFrom("accounts")
      .select([...COLUMNS, "password_hash as passwordHash"])
      .where("email", "=", email)
      .executeTakeFirst();
    return row ? { account: toRecord(row), passwordHash: row.passwordHash } : null;
  }

  async addRole(id: string, role: string): Promise<AccountRecord | null> {
    // One statement (the row's write lock): appends only when absent, so concurrent grants can
    // neither lose nor double a role. The array operations differ: text[] vs a JSON array.
    await (this.#pg
      ? sql`UPDATE accounts SET roles = array_append(roles, ${role}::text) WHERE id = ${id} AND NOT (${role}::text = ANY(roles))`
      : sql`UPDATE accounts SET roles = json_insert(roles, '$[#]', ${role}) WHERE id = ${id} AND NOT EXISTS (SELECT 1 FROM json_each(accounts.roles) WHERE value = ${role})`
    ).execute(this.#db);
    return this.byId(id);
  }

  async createSession(session: NewSession, token: NewRefreshToken): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      // The account check is in the insert itself. PostgreSQL: FOR SHARE, so a concurrent
      // disable (an UPDATE of the row) waits for this session and then revokes it.
      const forShare = this.#pg ? sql` FOR SHARE` : sql``;
      const r = await sql`INSERT INTO sessions (id, account_id, created_at)
        SELECT ${session.id}, id, ${session.createdAt} FROM accounts WHERE id = ${session.accountId} AND disabled_at IS NULL${forShare}`.execute(
        trx,
      );
      if (Number(r.numAffectedRows ?? 0) === 0) return false;
      await trx
        .insertInto("refresh_tokens")
        .values({ token_hash: token.hash, session_id: session.id, created_at: token.createdAt, expires_at: token.expiresAt })
        .execute();
      return true;
    });
  }

  async rotateRefreshToken(hash: string, next: NewRefreshToken, now: string): Promise<RotateOutcome> {
    // Checks come before any write, so returning an outcome early writes nothing.
    return this.#db.transaction().execute(async (trx): Promise<RotateOutcome> => {
      const row = await trx
        .selectFrom("refresh_tokens as t")
        .innerJoin("sessions as s", "s.id", "t.session_id")
        .innerJoin("accounts as a", "a.id", "s.account_id")
        .select([
          "t.session_id as sessionId",
          "t.expires_at as expiresAt",
          "t.used_at as usedAt",
          "s.account_id as accountId",
          "s.revoked_at as revokedAt",
          "a.disabled_at as disabledAt",
        ])
        .where("t.token_hash", "=", hash)
        // PostgreSQL: two rotations of one token serialise; the second sees used_at set (reuse).
        .$if(this.#pg, (q) => q.forUpdate("t"))
        .executeTakeFirst();
      if (!row) return { kind: "unknown" };
      if (row.revokedAt !== null) return { kind: "revoked" };
      if (row.disabledAt !== null) return { kind: "disabled" };
      if (row.usedAt !== null) return { kind: "reused", sessionId: row.sessionId, accountId: row.accountId };
      if (Date.parse(row.expiresAt) <= Date.parse(now)) return { kind: "expired" };
      await trx.updateTable("refresh_tokens").set({ used_at: now }).where("token_hash", "=", hash).execute();
      await trx
        .insertInto("refresh_tokens")
        .values({ token_hash: next.hash, session_id: row.sessionId, created_at: next.createdAt, expires_at: next.expiresAt })
        .execute();
      const account = await trx.selectFrom("accounts").select(COLUMNS).where("id", "=", row.accountId).executeTakeFirst();
      if (!account) throw new Error(`account ${row.accountId} of session ${row.sessionId} not found`);
      return { kind: "rotated", sessionId: row.sessionId, account: toRecord(account) };
    });
  }

  async sessionOfRefreshToken(hash: string): Promise<{ sessionId: string; accountId: string } | null> {
    const row = await this.#db
      .selectFrom("refresh_tokens as t")
      .innerJoin("sessions as s", "s.id", "t.session_id")
      .select(["s.id as sessionId", "s.account_id as accountId"])
      .where("t.token_hash", "=", hash)
      .executeTakeFirst();
    return row ?? null;
  }

  async revokeSession(
    sessionId: string,
    accountId: string,
    revokedAt: string,
    reason: string,
    event: AccountOutboxMessage,
  ): Promise<boolean> {
    const revoked = await this.#db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable("sessions")
        .set({ revoked_at: revokedAt, revoke_reason: reason })
        .where("id", "=", sessionId)
        .where("account_id", "=", accountId)
        .where("revoked_at", "is", null)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) return false;
      await this.outbox.add(trx, event.subject, event.event, event.headers);
      return true;
    });
    if (revoked) void this.outbox.committed([event.subject]);
    return revoked;
  }

  async setDisabled(id: string, disabledAt: string | null, event: AccountOutboxMessage): Promise<AccountRecord | null> {
    const changed = await this.#db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable("accounts")
        .set({ disabled_at: disabledAt })
        .where("id", "=", id)
        .where("disabled_at", disabledAt === null ? "is not" : "is", null)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) return false;
      if (disabledAt !== null)
        await trx
          .updateTable("sessions")
          .set({ revoked_at: disabledAt, revoke_reason: "disabled" })
          .where("account_id", "=", id)
          .where("revoked_at", "is", null)
          .execute();
      await this.outbox.add(trx, event.subject, event.event, event.headers);
      return true;
    });
    if (changed) void this.outbox.committed([event.subject]);
    return this.byId(id);
  }

  async pruneRefreshTokens(before: string, limit: number): Promise<number> {
    const r = await this.#db
      .deleteFrom("refresh_tokens")
      .where("token_hash", "in", (eb) => eb.selectFrom("refresh_tokens").select("token_hash").where("expires_at", "<", before).limit(limit))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async sessionStatus(accountId: string, sessionId: string | undefined): Promise<SessionStatus> {
    const account = await this.#db
      .selectFrom("accounts")
      .select("disabled_at as disabledAt")
      .where("id", "=", accountId)
      .executeTakeFirst();
    if (!account) return { exists: false, disabled: false, session: sessionId === undefined ? "none" : "unknown" };
    const disabled = account.disabledAt !== null;
    if (sessionId === undefined) return { exists: true, disabled, session: "none" };
    const s = await this.#db
      .selectFrom("sessions")
      .select(["account_id as accountId", "revoked_at as revokedAt"])
      .where("id", "=", sessionId)
      .executeTakeFirst();
    const session = !s ? "unknown" : s.accountId !== accountId ? "other" : s.revokedAt !== null ? "revoked" : "active";
    return { exists: true, disabled, session };
  }

  close(): Promise<void> {
    return this.#mdb.close();
  }
}
