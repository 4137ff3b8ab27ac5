import postgres from "postgres";
import type { Logger } from "../logger.ts";
import { instrumentPostgres } from "./instrument.ts";

/**
 * A PostgreSQL connection pool (porsager `postgres`) as {@link openStorePool} configures it:
 * `bigint` (int8) values, e.g. `count(*)` and money columns, come back as JS numbers.
 */
export type PgSql = postgres.Sql<{ bigint: number }>;

/** Options of {@link openStorePool}. */
export interface OpenPostgresOptions {
  /** Max connections of the pool. */
  poolMax: number;
  /** Receives server notices (debug level) and connection-level problems. */
  logger?: Logger;
  /** Seconds an idle connection stays open; default 30. */
  idleTimeoutS?: number;
  /** Seconds to wait for a connection; default 10. */
  connectTimeoutS?: number;
  /**
   * Timestamps read as ISO-8601 UTC with PostgreSQL's microseconds
   * (`2026-01-02T03:04:05.678901Z`) instead of milliseconds: what the data copy reads with, so
   * a PostgreSQL → PostgreSQL copy keeps `now()` stamps exactly. Default false (stores get ms,
   * as SQLite stores them).
   */
  exactTimestamps?: boolean;
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

/** `search_path` of the URL when set (shared database, one schema per module), else the database name. */
function postgresModuleLabel(url: string): string {
  try {
    const u = new URL(url);
    return u.searchParams.get("search_path") || decodeURIComponent(u.pathname.replace(/^\//, "")) || "postgres";
  } catch {
    return "postgres";
  }
}

function openPool(url: string, opts: OpenPostgresOptions, types: Record<string, postgres.PostgresType>): PgSql {
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

/**
 * timestamptz/timestamp → ISO-8601 UTC string with all six fraction digits PostgreSQL keeps
 * (see {@link OpenPostgresOptions.exactTimestamps}); strings are written unchanged.
 */
const isoTimestampMicros: postgres.PostgresType<string> = {
  ...isoTimestamp,
  // A string goes as it is (PostgreSQL parses ISO-8601 with µs); a Date would keep ms only.
  serialize: (v: string | Date) => (v instanceof Date ? v.toISOString() : v),
  parse: (raw: string) => isoWithFraction(raw, 6) ?? raw,
};

/**
 * `value` (an ISO-8601 or PostgreSQL timestamp text, or a Date) as ISO-8601 UTC with exactly
 * `digits` fraction digits, truncated, never rounded (rounding could carry into the seconds).
 * The fraction is taken from the text, since a JS Date keeps milliseconds only.
 * @returns undefined when `value` is no timestamp.
 */
export function isoWithFraction(value: unknown, digits: 3 | 6): string | undefined {
  const text = value instanceof Date ? value.toISOString() : String(value);
  const fraction = /:\d\d\.(\d+)/.exec(text)?.[1] ?? "";
  const seconds = new Date(text.replace(/(:\d\d)\.\d+/, "$1"));
  if (Number.isNaN(seconds.getTime())) return undefined;
  return `${seconds.toISOString().slice(0, 19)}.${fraction.padEnd(digits, "0").slice(0, digits)}Z`;
}

/** boolean: also accepts 1/0 on write (SQLite's booleans); reads stay JS booleans (SQLite gives 1/0). */
const bool: postgres.PostgresType<boolean> = {
  to: 16,
  from: [16],
  serialize: (v: unknown) => (v === true || v === 1 ? "t" : "f"),
  parse: (raw: string) => raw === "t",
};

/**
 * Opens the PostgreSQL pool of a module database (`openDatabase`; connections are made lazily,
 * on first query) whose values look like SQLite's, so one store runs the same code on both:
 * int8 → number, timestamps → ISO strings, JSON as text. Connection parameters in the URL's
 * query string (e.g. `?search_path=catalog`) are sent to the server; notices (e.g. "relation
 * already exists, skipping") go to `logger.debug`, not stdout. Instrumented (statement metrics
 * and spans) on the connections Kysely's driver reserves.
 *
 * @param url `postgres://user:pass@host:port/db[?search_path=schema&sslmode=...]`
 * @throws the driver's error on a malformed URL (connection errors surface on first query).
 */
export function openStorePool(url: string, opts: OpenPostgresOptions): PgSql {
  const timestamp = opts.exactTimestamps ? isoTimestampMicros : isoTimestamp;
  const pool = openPool(url, opts, { bigint: int8, timestamp, json: jsonText, boolean: bool });
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
