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
  {
    version: 3,
    name: "sessions and refresh tokens",
    up: `
      -- Set by an admin (disableAccount): login and refresh refused, sessions revoked.
      ALTER TABLE accounts ADD COLUMN disabled_at TEXT;
      -- A session is one refresh-token family (the JWT sid of its access tokens).
      CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        created_at TEXT NOT NULL,
        revoked_at TEXT,
        -- logout | reuse | disabled
        revoke_reason TEXT
      );
      CREATE INDEX sessions_account ON sessions(account_id) WHERE revoked_at IS NULL;
      -- Only the SHA-256 of a refresh token is stored: a database leak yields no usable token.
      CREATE TABLE refresh_tokens (
        token_hash TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id),
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        -- Set when rotated: presenting it again revokes the session.
        used_at TEXT
      );
      CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);
      -- The hourly prune of expired tokens.
      CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);
    `,
  },
];
