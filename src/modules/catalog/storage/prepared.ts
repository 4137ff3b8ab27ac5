import { CompiledQuery, type QueryExecutorProvider, type QueryResult, type RawBuilder } from "kysely";

/** What runs a compiled query: a Kysely instance or transaction. */
export interface QueryRunner {
  executeQuery<O>(query: CompiledQuery<O>): Promise<QueryResult<O>>;
}

/**
 * A statement compiled once for the database's dialect (placeholders `?` on SQLite, `$n` on
 * PostgreSQL) and run with fresh parameters. The hot paths (a reservation, a cached search page)
 * use it to skip Kysely's builder and compiler, which cost about as much CPU as SQLite running
 * the statements. Parameters go in the order of the template's `${}` slots.
 *
 * @typeParam R a result row.
 */
export class Prepared<R> {
  readonly #sql: string;

  /**
   * @param db the database whose dialect compiles the statement.
   * @param template the statement, with a placeholder value in each parameter slot.
   */
  constructor(db: QueryExecutorProvider, template: RawBuilder<R>) {
    this.#sql = template.compile(db).sql;
  }

  /** Runs the statement on `ex` (the database or a transaction) with `params`, one per slot. */
  run(ex: QueryRunner, params: unknown[]): Promise<QueryResult<R>> {
    return ex.executeQuery(CompiledQuery.raw(this.#sql, params) as CompiledQuery<R>);
  }
}
