import { AppError, ErrorCode, migrateSqlite, openSqlite, type Database } from "../../../kernel/index.ts";
import { ACCOUNT_MIGRATIONS } from "./migrations.ts";
import type { AccountRecord, AccountStore, Credentials, NewAccount } from "./types.ts";

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
  constructor(readonly db: Database) {}

  async create(a: NewAccount): Promise<void> {
    try {
      this.db
        .query("INSERT INTO accounts (id, name, email, password_hash, roles, created_at) VALUES (?, ?, ?, ?, ?, ?)")
        .run(a.id, a.name, a.email, a.passwordHash, JSON.stringify(a.roles), a.createdAt);
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError(ErrorCode.EMAIL_TAKEN, "an account with this e-mail already exists");
      throw err;
    }
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

  async close(): Promise<void> {
    this.db.close();
  }
}
