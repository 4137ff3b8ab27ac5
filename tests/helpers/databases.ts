import { afterAll } from "bun:test";
import { Database } from "bun:sqlite";
import { startPostgres, type PostgresServer } from "../../scripts/devservers/postgres.ts";
import type { DatabaseConfig } from "../../src/kernel/module.ts";
import postgres from "postgres";

/**
 * Running the module suites against both stores without duplicating them:
 *
 * ```ts
 * usePostgres(); // top of the file: one PostgreSQL server for this file, started on first use
 * for (const db of DATABASES) describe(`catalog [${db}]`, () => { ... startModules(defs, {}, { database: db }) ... });
 * ```
 */

export type DatabaseKind = "sqlite" | "postgres";

/**
 * The stores the module suites run against: both by default; `TEST_DATABASES=sqlite` (a
 * comma-separated list) narrows it, e.g. on a machine without PostgreSQL.
 */
export const DATABASES: readonly DatabaseKind[] = (() => {
  const raw = process.env["TEST_DATABASES"];
  if (!raw) return ["sqlite", "postgres"];
  const kinds = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const k of kinds)
    if (k !== "sqlite" && k !== "postgres") throw new Error(`TEST_DATABASES: unknown database ${k} (sqlite, postgres)`);
  return kinds as DatabaseKind[];
})();

/** Whether PostgreSQL-only tests (parity, PostgreSQL migrations) run: when "postgres" is in {@link DATABASES}. */
export const WITH_POSTGRES = DATABASES.includes("postgres");

let server: Promise<PostgresServer> | undefined;
let armed = false;
let seq = 0;

/**
 * Declares that this test file may use PostgreSQL: the shared server starts lazily on the
 * first {@link freshPostgresDatabase} and stops after the file's last test. Call at the top
 * level of the file (it registers an `afterAll`).
 */
export function usePostgres(): void {
  armed = true;
  afterAll(async () => {
    armed = false;
    const s = server;
    server = undefined;
    if (s) await (await s).stop();
  });
}

/** The file's PostgreSQL server, started on first call. @throws when `usePostgres()` was not called. */
export function postgresServer(): Promise<PostgresServer> {
  if (!armed) throw new Error("call usePostgres() at the top of the test file before using PostgreSQL");
  server ??= startPostgres();
  return server;
}

/** A new, empty database on the file's server; returns its URL. */
export async function freshPostgresDatabase(): Promise<string> {
  const pg = await postgresServer();
  return pg.createDatabase(`t${process.pid}_${++seq}`);
}

/** Read access to a module's database from a test, whatever the store. */
export interface DbProbe {
  /** Rows of a query written with `?` placeholders (numbered `$n` for PostgreSQL). */
  all<T>(sql: string, ...params: (string | number)[]): Promise<T[]>;
  /** First row, or undefined. */
  get<T>(sql: string, ...params: (string | number)[]): Promise<T | undefined>;
  close(): Promise<void>;
}

/**
 * Opens a second connection to a module's database (read-only for SQLite) to observe what
 * the module did. Counts come back as numbers on both.
 */
export function openProbe(db: DatabaseConfig): DbProbe {
  if (db.kind === "sqlite") {
    const conn = new Database(db.path, { readonly: true });
    return {
      all: async <T>(sql: string, ...params: (string | number)[]) => conn.query<T, (string | number)[]>(sql).all(...params),
      get: async <T>(sql: string, ...params: (string | number)[]) => conn.query<T, (string | number)[]>(sql).get(...params) ?? undefined,
      close: async () => conn.close(),
    };
  }
  // int8 (counts) as numbers, as on SQLite.
  const sql = postgres(db.url, {
    max: 2,
    onnotice: () => undefined,
    types: { bigint: { to: 20, from: [20], serialize: String, parse: Number } },
  });
  const numbered = (text: string): string => {
    let n = 0;
    return text.replace(/\?/g, () => `$${++n}`);
  };
  const all = async <T>(text: string, ...params: (string | number)[]): Promise<T[]> => [...(await sql.unsafe<T[]>(numbered(text), params))];
  return {
    all,
    get: async <T>(text: string, ...params: (string | number)[]) => (await all<T>(text, ...params))[0],
    close: () => sql.end({ timeout: 5 }),
  };
}
