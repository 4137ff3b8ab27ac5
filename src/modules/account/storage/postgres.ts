import { AppError, ErrorCode, isPgUniqueViolation, migratePostgres, openPostgres, type Logger, type PgSql } from "../../../kernel/index.ts";
import { ACCOUNT_PG_MIGRATIONS } from "./migrations.pg.ts";
import type { AccountRecord, AccountStore, Credentials, NewAccount } from "./types.ts";

/** A row of `accounts` as selected. */
interface AccountRow {
  id: string;
  name: string;
  email: string;
  roles: string[];
  createdAt: Date;
}

const toRecord = (row: AccountRow): AccountRecord => ({
  id: row.id,
  name: row.name,
  email: row.email,
  roles: row.roles,
  createdAt: row.createdAt.toISOString(),
});

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
  constructor(readonly sql: PgSql) {}

  async create(a: NewAccount): Promise<void> {
    try {
      await this.sql`
        INSERT INTO accounts (id, name, email, password_hash, roles, created_at)
        VALUES (${a.id}, ${a.name}, ${a.email}, ${a.passwordHash}, ${this.sql.array(a.roles)}, ${a.createdAt})`;
    } catch (err) {
      if (isPgUniqueViolation(err, "accounts_email_key")) throw new AppError(ErrorCode.EMAIL_TAKEN, "an account with this e-mail already exists");
      throw err;
    }
  }

  async byId(id: string): Promise<AccountRecord | null> {
    const [row] = await this.sql<AccountRow[]>`SELECT id, name, email, roles, created_at AS "createdAt" FROM accounts WHERE id = ${id}`;
    return row ? toRecord(row) : null;
  }

  async credentialsByEmail(email: string): Promise<Credentials | null> {
    const [row] = await this.sql<(AccountRow & { passwordHash: string })[]>`
      SELECT id, name, email, roles, created_at AS "createdAt", password_hash AS "passwordHash" FROM accounts WHERE email = ${email}`;
    return row ? { account: toRecord(row), passwordHash: row.passwordHash } : null;
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}
