import { type Migration, outboxMigration } from "../../../kernel/index.ts";

/**
 * Versioned schema of the account database, per dialect where the DDL differs (the scripts are
 * those earlier versions applied, verbatim: existing databases stay valid). Append only: never
 * edit a released migration, add a new version instead. On PostgreSQL, `id`, `email` and token
 * columns use COLLATE "C" (byte order, as SQLite's BINARY) and `roles` is a `text[]`.
 */
export const ACCOUNT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "accounts",
    up: {
      sqlite: `
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
      postgres: `
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
  },
  // account.registered commits with the account it announces.
  outboxMigration(2),
  {
    version: 3,
    name: "sessions and refresh tokens",
    up: {
      sqlite: `
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
      postgres: `
      -- Set by an admin (disableAccount): login and refresh refused, sessions revoked.
      ALTER TABLE accounts ADD COLUMN disabled_at timestamptz;
      -- A session is one refresh-token family (the JWT sid of its access tokens).
      CREATE TABLE sessions (
        id text COLLATE "C" PRIMARY KEY,
        account_id text COLLATE "C" NOT NULL REFERENCES accounts(id),
        created_at timestamptz NOT NULL,
        revoked_at timestamptz,
        -- logout | reuse | disabled
        revoke_reason text
      );
      CREATE INDEX sessions_account ON sessions(account_id) WHERE revoked_at IS NULL;
      -- Only the SHA-256 of a refresh token is stored: a database leak yields no usable token.
      CREATE TABLE refresh_tokens (
        token_hash text COLLATE "C" PRIMARY KEY,
        session_id text COLLATE "C" NOT NULL REFERENCES sessions(id),
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        -- Set when rotated: presenting it again revokes the session.
        used_at timestamptz
      );
      CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);
      -- The hourly prune of expired tokens.
      CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);
    `,
    },
  },
];
