import { AppError, ErrorCode, isPgUniqueViolation, migratePostgres, openPostgres, PostgresOutbox, type Logger, type PgSql } from "../../../kernel/index.ts";
import { ACCOUNT_PG_MIGRATIONS } from "./migrations.pg.ts";
import type { AccountOutboxMessage, AccountRecord, AccountStore, Credentials, NewAccount } from "./types.ts";

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
      if (isPgUniqueViolation(err, "accounts_email_key")) throw new AppError(ErrorCode.EMAIL_TAKEN, "an account with this e-mail already exists");
      throw err;
    }
    if (events.length > 0) void this.outbox.committed(events.map((e) => e.subject));
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

  async addRole(id: string, role: string): Promise<AccountRecord | null> {
    // One statement (row-locked): appends only when absent, so concurrent grants cannot double it.
    await this.sql`UPDATE accounts SET roles = array_append(roles, ${role}::text) WHERE id = ${id} AND NOT (${role}::text = ANY(roles))`;
    return this.byId(id);
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}
