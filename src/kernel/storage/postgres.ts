import postgres from "postgres";
import type { Logger } from "../logger.ts";
import { MigrationError, scriptFor, type Migration } from "./migrations.ts";
import { instrumentPostgres } from "./instrument.ts";

/**
 * A PostgreSQL connection pool (porsager `postgres`) as {@link openPostgres} configures it:
 * `bigint` (int8) values, e.g. `count(*)` and money columns, come back as JS numbers.
 */
export type PgSql = postgres.Sql<{ bigint: number }>;
/** The handle a `sql.begin(tx => ...)` callback receives. */
export type PgTx = postgres.TransactionSql<{ bigint: number }>;

/** One versioned PostgreSQL schema change: same shape and rules as {@link Migration}, `up` is PostgreSQL DDL. */
export type PgMigration = Migration;

export interface OpenPostgresOptions {
  /** Max connections of the pool. */
  poolMax: number;
  /** Receives server notices (debug level) and connection-level problems. */
  logger?: Logger;
  /** Seconds an idle connection stays open; default 30. */
  idleTimeoutS?: number;
  /** Seconds to wait for a connection; default 10. */
  connectTimeoutS?: number;
}

/**
 * int8 → number. Money is integer cents and counts are small, so a JS number is exact;
 * a value beyond 2^53 would silently lose precision, so it is refused instead.
 */
const int8: postgres.PostgresType<number> = {
  to: 20,
  from: [20],
  serialize: (v: number) => String(v),
  parse: (raw: string) => {
    const n = Number(raw);
    if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${raw} is outside the safe integer range`);
    return n;
  },
};

/**
 * Opens a PostgreSQL pool (connections are made lazily, on first query). Connection
 * parameters in the URL's query string (e.g. `?search_path=catalog`) are sent to the server.
 * Notices (e.g. "relation already exists, skipping") go to `logger.debug`, not stdout.
 *
 * @param url `postgres://user:pass@host:port/db[?search_path=schema&sslmode=...]`
 * @throws the driver's error on a malformed URL (connection errors surface on first query).
 */
export function openPostgres(url: string, opts: OpenPostgresOptions): PgSql {
  // Statement metrics and spans; module label = the schema (search_path) or the database name.
  return instrumentPostgres(openPool(url, opts), postgresModuleLabel(url));
}

/** `search_path` of the URL when set (shared database, one schema per module), else the database name. */
function postgresModuleLabel(url: string): string {
  try {
    const u = new URL(url);
    return u.searchParams.get("search_path") || decodeURIComponent(u.pathname.replace(/^\//, "")) || "postgres";
  } catch {
    return "postgres";
  }
}

function openPool(url: string, opts: OpenPostgresOptions, types: Record<string, postgres.PostgresType> = { bigint: int8 }): PgSql {
  return postgres(url, {
    max: opts.poolMax,
    idle_timeout: opts.idleTimeoutS ?? 30,
    connect_timeout: opts.connectTimeoutS ?? 10,
    onnotice: (notice) => opts.logger?.debug({ notice: notice["message"] }, "postgres notice"),
    types: types as { bigint: typeof int8 },
    connection: { application_name: "switchyard" },
  });
}

/**
 * timestamptz/timestamp → ISO-8601 UTC string (`2026-01-02T03:04:05.678Z`), as SQLite stores
 * them, so one store reads the same values from both databases. Writes take ISO strings (or Dates).
 */
const isoTimestamp: postgres.PostgresType<string> = {
  to: 1184,
  from: [1114, 1184],
  serialize: (v: string | Date) => (v instanceof Date ? v : new Date(v)).toISOString(),
  parse: (raw: string) => new Date(raw).toISOString(),
};

/**
 * json/jsonb ↔ JSON text, as SQLite stores them: a store writes `JSON.stringify(value)` and
 * parses what it reads on both databases. (The driver's default would parse on read and
 * stringify a string parameter a second time on write.)
 */
const jsonText: postgres.PostgresType<string> = {
  to: 3802,
  from: [114, 3802],
  serialize: (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v)),
  parse: (raw: string) => raw,
};

/** boolean: also accepts 1/0 on write (SQLite's booleans); reads stay JS booleans (SQLite gives 1/0). */
const bool: postgres.PostgresType<boolean> = {
  to: 16,
  from: [16],
  serialize: (v: unknown) => (v === true || v === 1 ? "t" : "f"),
  parse: (raw: string) => raw === "t",
};

/**
 * A pool with {@link openPostgres}'s settings whose values look like SQLite's, for stores that
 * run the same code on both databases (`openDatabase`): int8 → number, timestamps → ISO
 * strings, JSON as text. Instrumented (statement metrics and spans), also on reserved connections.
 * @throws the driver's error on a malformed URL.
 */
export function openStorePool(url: string, opts: OpenPostgresOptions): PgSql {
  const pool = openPool(url, opts, { bigint: int8, timestamp: isoTimestamp, json: jsonText, boolean: bool });
  return preparedStatements(instrumentPostgres(pool, postgresModuleLabel(url)));
}

/**
 * Kysely's postgres.js driver runs every statement with `reserved.unsafe(text, params)`, which
 * the driver sends unnamed (parsed and planned again each time). Statements with parameters are
 * sent as named prepared statements instead, cached per connection as tagged templates are;
 * statements without parameters keep the simple protocol (several statements per script).
 * Once the pool is ended, `reserve` rejects instead of waiting forever.
 */
function preparedStatements(pool: PgSql): PgSql {
  let ended = false;
  return new Proxy(pool, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === "end" && typeof value === "function") {
        return (...args: unknown[]) => {
          ended = true;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      if (prop !== "reserve" || typeof value !== "function") return value;
      return async (...args: unknown[]) => {
        // The driver's reserve() on an ended pool waits forever (e.g. an outbox relay pass
        // after the store closed, which would then hang the relay's stop): refuse instead.
        if (ended) throw new Error("the database pool is closed");
        const reserved = (await (value as (...a: unknown[]) => Promise<PgSql>).apply(target, args)) as PgSql;
        return new Proxy(reserved, {
          get(t, p, r) {
            const v = Reflect.get(t, p, r) as unknown;
            if (p !== "unsafe" || typeof v !== "function") return v;
            return (text: string, params: unknown[] = [], options: Record<string, unknown> = {}) =>
              (v as (...a: unknown[]) => unknown).call(t, text, params, params.length > 0 ? { prepare: true, ...options } : options);
          },
        });
      };
    },
  });
}

/** SQLSTATE of a driver error (`23505` unique violation, `40P01` deadlock...), if any. */
export function pgErrorCode(err: unknown): string | undefined {
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : undefined;
}

/**
 * True for a unique-constraint violation (SQLSTATE 23505), optionally of the named
 * constraint only (so that e.g. a primary-key clash is not mistaken for a taken e-mail).
 */
export function isPgUniqueViolation(err: unknown, constraint?: string): boolean {
  if (pgErrorCode(err) !== "23505") return false;
  return constraint === undefined || (err as { constraint_name?: unknown }).constraint_name === constraint;
}

/**
 * Serialises migrators of one schema: two instances starting together queue here, and the
 * second sees what the first applied. Transaction-scoped, so it is released by COMMIT or
 * ROLLBACK, even when the connection dies. Keyed by schema: modules sharing a database in
 * their own schemas do not wait for each other.
 */
const LOCK = "SELECT pg_advisory_xact_lock(hashtext('switchyard.schema_migrations'), hashtext(coalesce(current_schema(), '')))";

/**
 * Applies pending migrations to the schema the connection's `search_path` selects, each in
 * its own transaction, recording them in `schema_migrations(version, name, applied_at)`.
 * Same contract as `migrateSqlite`: idempotent (a second run applies nothing), returns the
 * versions this call applied. Safe when several instances start at once: each migration's
 * transaction takes an advisory lock and re-reads the applied versions, so each version is
 * applied exactly once and the others return without it.
 *
 * @throws MigrationError if versions are not strictly increasing, or the database has a
 *   version the code does not know (it was migrated by newer code).
 * @throws the driver's error when a migration fails (its transaction is rolled back; the
 *   ones before it stay applied).
 */
export async function migratePostgres(sql: PgSql, migrations: readonly PgMigration[]): Promise<number[]> {
  for (let i = 1; i < migrations.length; i++) {
    if ((migrations[i] as PgMigration).version <= (migrations[i - 1] as PgMigration).version) {
      throw new MigrationError("migration versions must be strictly increasing");
    }
  }
  const known = new Set(migrations.map((m) => m.version));
  /** Applied versions, read under the lock; throws on a version this code does not know. */
  const appliedIn = async (tx: PgTx): Promise<Set<number>> => {
    const rows = await tx<{ version: number }[]>`SELECT version FROM schema_migrations`;
    const applied = new Set(rows.map((r) => r.version));
    for (const v of applied) {
      if (!known.has(v)) throw new MigrationError(`database has migration ${v}, unknown to this version of the code`);
    }
    return applied;
  };

  // Under the lock too: concurrent CREATE TABLE IF NOT EXISTS can fail on the catalog's unique index.
  const applied = await sql.begin(async (tx) => {
    await tx.unsafe(LOCK);
    await tx.unsafe(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
    );
    return appliedIn(tx);
  });

  const done: number[] = [];
  for (const m of migrations) {
    if (applied.has(m.version)) continue;
    const ran = await sql.begin(async (tx) => {
      await tx.unsafe(LOCK);
      // Another instance may have applied it while this one waited for the lock.
      if ((await appliedIn(tx)).has(m.version)) return false;
      // No parameters: the simple protocol, which accepts several statements.
      await tx.unsafe(scriptFor(m, "postgres"));
      await tx`INSERT INTO schema_migrations (version, name) VALUES (${m.version}, ${m.name})`;
      return true;
    });
    if (ran) done.push(m.version);
  }
  return done;
}
