import type { Migration } from "../storage/migrations.ts";

/** The `outbox` table on SQLite (kept verbatim: databases migrated by earlier versions have it). */
const SQLITE = `
      CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        subject TEXT NOT NULL,
        payload TEXT NOT NULL,
        headers TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        sent_at TEXT
      );
      -- The relay's scan: unsent rows in insertion order.
      CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
    `;

/** The `outbox` table on PostgreSQL (kept verbatim, as {@link SQLITE}). */
const POSTGRES = `
      CREATE TABLE outbox (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id text COLLATE "C" NOT NULL UNIQUE,
        subject text NOT NULL,
        payload text NOT NULL,
        headers jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz
      );
      CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
    `;

/**
 * The `outbox` table as a migration: a module appends it to its own list under its next
 * version number, so the table lives in the module's database next to its state.
 */
export function outboxMigration(version: number): Migration {
  return { version, name: "transactional outbox", up: { sqlite: SQLITE, postgres: POSTGRES } };
}
