import { AppError, ErrorCode, migrateSqlite, openSqlite, SqliteOutbox, type Database } from "../../../kernel/index.ts";
import { ACCOUNT_MIGRATIONS } from "./migrations.ts";
import type { AccountOutboxMessage, AccountRecord, AccountStore, Credentials, NewAccount } from "./types.ts";

/** A row of `accounts` as selected (roles still JSON text). */
interface AccountRow {
  id: string;
  name: string;
  email: string;
  roles: string;
  createdAt: string;
}

const COLUMNS = "id, name, email, roles, created_at AS createdAt";

const toRecord = (row: AccountRow): AccountRecord => ({
  id: row.id,
  name: row.name,
  email: row.email,
  roles: JSON.parse(row.roles) as string[],
  createdAt: row.createdAt,
});

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

  constructor(readonly db: Database) {
    this.outbox = new SqliteOutbox(db);
    this.createTx = db.transaction((a: NewAccount, events: readonly AccountOutboxMessage[]) => {
      db.query("INSERT INTO accounts (id, name, email, password_hash, roles, created_at) VALUES (?, ?, ?, ?, ?, ?)").run(
        a.id, a.name, a.email, a.passwordHash, JSON.stringify(a.roles), a.createdAt,
      );
      for (const e of events) this.outbox.add(e.subject, e.event, e.headers);
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
      .query<AccountRow & { passwordHash: string }, [string]>(`SELECT ${COLUMNS}, password_hash AS passwordHash FROM accounts WHERE email = ?`)
      .get(email);
    return row ? { account: toRecord(row), passwordHash: row.passwordHash } : null;
  }

  async addRole(id: string, role: string): Promise<AccountRecord | null> {
    // One statement: appends only when absent, so a concurrent grant cannot be lost or doubled.
    this.db
      .query("UPDATE accounts SET roles = json_insert(roles, '$[#]', ?1) WHERE id = ?2 AND NOT EXISTS (SELECT 1 FROM json_each(accounts.roles) WHERE value = ?1)")
      .run(role, id);
    return this.byId(id);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
