import { sqliteOutboxMigration, type Migration } from "../../../kernel/index.ts";

/**
 * Versioned schema of the account database (SQLite). Append only: never edit a released
 * migration, add a new version instead.
 */
export const ACCOUNT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "accounts",
    up: `
      CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        -- Stored normalised (trimmed, lower case) by the code, so a plain UNIQUE suffices.
        email TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        -- JSON array of role names.
        roles TEXT NOT NULL DEFAULT '["customer"]' CHECK (json_valid(roles) AND json_type(roles) = 'array'),
        created_at TEXT NOT NULL
      );
    `,
  },
  // account.registered commits with the account it announces.
  sqliteOutboxMigration(2),
];
