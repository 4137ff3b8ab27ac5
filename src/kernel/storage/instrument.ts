/**
 * SQL statement metrics and spans for both drivers, installed where connections are opened
 * (`openSqlite`, `openStorePool`), so every module store is covered without touching it:
 * `switchyard_db_query_duration_seconds{module,driver,statement}` and, while the caller's span
 * is recording, a leaf span `db <statement>` with the SQL text (parameterised: no values).
 */
import { basename } from "node:path";
import { context, trace, SpanKind, SpanStatusCode } from "@opentelemetry/api";
import type { Database } from "bun:sqlite";
import { dbQueryDuration, secondsSince } from "../metrics.ts";
import { tracer } from "../tracing.ts";

const KINDS = new Set(["select", "insert", "update", "delete", "with", "begin", "commit", "rollback", "pragma", "create"]);

/** `select` | `insert` | `update` | `delete` | … from the statement's first keyword, else `other`. */
export function statementKind(sql: string): string {
  const m = /^\s*([A-Za-z]+)/.exec(sql);
  const kw = m ? (m[1] as string).toLowerCase() : "";
  if (kw === "with") return "select";
  return KINDS.has(kw) ? kw : "other";
}

/** The module label of a SQLite file: its base name without extension (`catalog.sqlite` → `catalog`). */
export function sqliteModuleLabel(path: string): string {
  if (path === ":memory:") return "memory";
  return basename(path).replace(/\.[^.]*$/, "") || "sqlite";
}

/**
 * Times `run` as one SQL statement (sync or async), with a span when the caller is traced.
 * @param kind {@link statementKind} of `sql` (prepared statements compute it once, not per run).
 */
function observe<T>(module: string, driver: string, sql: string, run: () => T, kind: string = statementKind(sql)): T {
  const start = performance.now();
  const parent = trace.getActiveSpan();
  const span = parent?.isRecording()
    ? tracer().startSpan(
        `db ${kind}`,
        { kind: SpanKind.CLIENT, attributes: { "db.system.name": driver, "db.namespace": module, "db.query.text": sql.slice(0, 1000) } },
        context.active(),
      )
    : undefined;
  const done = (err?: unknown): void => {
    dbQueryDuration.observe({ module, driver, statement: kind }, secondsSince(start));
    if (span) {
      if (err !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      span.end();
    }
  };
  let out: T;
  try {
    out = run();
  } catch (err) {
    done(err);
    throw err;
  }
  if (out instanceof Promise) {
    return out.then(
      (v: unknown) => (done(), v),
      (err: unknown) => {
        done(err);
        throw err;
      },
    ) as T;
  }
  done();
  return out;
}

const WRAPPED = Symbol.for("switchyard.sql.instrumented");
const STATEMENT_METHODS = ["all", "get", "run", "values"] as const;

/**
 * Instruments a bun:sqlite database in place: statements from `query`/`prepare` time their
 * `all`/`get`/`run`/`values` calls, and `exec`/`run` on the database time themselves.
 * Returns the same object.
 */
export function instrumentSqlite(db: Database, module: string): Database {
  const target = db as unknown as Record<string | symbol, unknown>;
  if (target[WRAPPED]) return db;
  target[WRAPPED] = true;
  const wrapStatement = (stmt: object, sql: string): void => {
    const s = stmt as Record<string | symbol, unknown>;
    if (s[WRAPPED]) return; // `query` caches statements: wrap each once.
    s[WRAPPED] = true;
    const kind = statementKind(sql);
    for (const name of STATEMENT_METHODS) {
      const original = s[name] as ((...args: unknown[]) => unknown) | undefined;
      if (typeof original !== "function") continue;
      s[name] = (...args: unknown[]) => observe(module, "sqlite", sql, () => original.apply(stmt, args), kind);
    }
  };
  for (const factory of ["query", "prepare"] as const) {
    const original = db[factory].bind(db) as (sql: string, ...rest: unknown[]) => object;
    target[factory] = (sql: string, ...rest: unknown[]) => {
      const stmt = original(sql, ...rest);
      wrapStatement(stmt, sql);
      return stmt;
    };
  }
  for (const direct of ["exec", "run"] as const) {
    const original = db[direct].bind(db) as (sql: string, ...rest: unknown[]) => unknown;
    target[direct] = (sql: string, ...rest: unknown[]) => observe(module, "sqlite", sql, () => original(sql, ...rest));
  }
  return db;
}

/** A porsager `postgres` query: a lazy promise that runs when first awaited. */
interface LazyQuery {
  then: (...args: unknown[]) => unknown;
}

/**
 * Instruments a porsager `postgres` pool as Kysely's postgres.js driver uses it: every
 * statement it runs on a connection from `reserve` (with `unsafe`: queries, BEGIN/COMMIT,
 * savepoints) is timed from the moment it is awaited until it settles. Returns a proxy.
 */
export function instrumentPostgres<S extends object>(sql: S, module: string): S {
  const wrapQuery = (q: unknown, text: string): unknown => {
    if (q === null || typeof q !== "object" || typeof (q as LazyQuery).then !== "function") return q;
    const query = q as LazyQuery;
    const originalThen = query.then.bind(query);
    let observed: Promise<unknown> | undefined;
    // biome-ignore lint/suspicious/noThenProperty: wraps the driver's own thenable query to observe its first await.
    query.then = (onFulfilled?: unknown, onRejected?: unknown) => {
      // The first await starts the query; later awaits reuse the same observation.
      observed ??= observe(module, "postgres", text, () => new Promise((resolve, reject) => void originalThen(resolve, reject)));
      return observed.then(onFulfilled as (v: unknown) => unknown, onRejected as (e: unknown) => unknown);
    };
    return query;
  };
  /** A proxy of `target` whose method `name` is replaced by `wrap(original)`. */
  const override = <T extends object>(target: T, name: string, wrap: (original: (...a: unknown[]) => unknown) => unknown): T =>
    new Proxy(target, {
      get(t, prop, receiver) {
        const value = Reflect.get(t, prop, receiver) as unknown;
        return prop === name && typeof value === "function"
          ? wrap((...a: unknown[]) => (value as (...b: unknown[]) => unknown).apply(t, a))
          : value;
      },
    });
  // The connection Kysely's driver runs every statement on.
  return override(
    sql,
    "reserve",
    (reserve) =>
      async (...args: unknown[]) =>
        override(
          (await reserve(...args)) as object,
          "unsafe",
          (unsafe) =>
            (text: string, ...rest: unknown[]) =>
              wrapQuery(unsafe(text, ...rest), text),
        ),
  );
}
