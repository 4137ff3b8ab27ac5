import { postgresOutboxMigration, type PgMigration } from "../../../kernel/index.ts";

/**
 * Versioned schema of the account database (PostgreSQL), mirroring `migrations.ts` (SQLite)
 * version for version. Append only: never edit a released migration, add a new version.
 */
export const ACCOUNT_PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    name: "accounts",
    up: `
      CREATE TABLE accounts (
        -- COLLATE "C": byte order and comparison, as SQLite's BINARY, whatever the database locale.
        id text COLLATE "C" PRIMARY KEY,
        name text NOT NULL,
        -- Stored normalised (trimmed, lower case) by the code, so a plain UNIQUE suffices;
        -- named, so that the store maps exactly this violation to EMAIL_TAKEN.
        email text COLLATE "C" NOT NULL CONSTRAINT accounts_email_key UNIQUE,
        password_hash text NOT NULL,
        roles text[] NOT NULL DEFAULT ARRAY['customer'] CHECK (array_position(roles, NULL) IS NULL),
        created_at timestamptz NOT NULL
      );
    `,
  },
  // account.registered commits with the account it announces.
  postgresOutboxMigration(2),
];
