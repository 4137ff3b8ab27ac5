import { execute, type DocumentNode, type ExecutionResult, type GraphQLSchema } from "graphql";
import { compileQuery, isCompiledQuery, type CompiledQuery } from "graphql-jit";
import { Lru } from "./lru.ts";

/** One query or mutation to run against a subgraph schema. */
export interface SubgraphExecution {
  /** The parsed and validated document. */
  document: DocumentNode;
  /** The operation's text: the cache key of its compiled form, with `operationName`. */
  query: string;
  operationName?: string | null | undefined;
  variables?: Record<string, unknown> | null | undefined;
  contextValue: unknown;
}

/** Runs validated queries and mutations against one schema; see {@link createCompiledExecutor}. */
export type CompiledExecutor = (run: SubgraphExecution) => Promise<ExecutionResult> | ExecutionResult;

/**
 * Executes queries and mutations of a subgraph with graphql-jit (zalando-incubator/graphql-jit):
 * each distinct operation is compiled once into a JavaScript function (resolver calls, leaf
 * serialization and result building specialised for its selection set), cached in an LRU of
 * `maxOperations` entries by operation name and text, found per request by the document object
 * (`run.document`, weakly held) when the caller passes the same object again, then run.
 * graphql-js's `execute` interprets the document on every request instead; in the gateways
 * benchmark it was ~17% of the monolith's CPU.
 *
 * An operation graphql-jit cannot compile (it returns errors instead of a function) runs on
 * graphql-js's `execute`, so results never depend on the compiler's coverage; that outcome is
 * cached too (the compile is not retried while the entry stays in the LRU or its document lives).
 * @param schema the subgraph's executable schema (resolvers attached).
 * @param maxOperations compiled operations kept, entries (>= 1).
 * @throws RangeError when `maxOperations` < 1.
 */
export function createCompiledExecutor(schema: GraphQLSchema, maxOperations: number): CompiledExecutor {
  const compiled = new Lru<string, CompiledQuery | null>(maxOperations);
  // The subgraph server hands the same document object for the same text (its parse cache), so
  // the compiled form is found by object identity first: no key string is built and hashed per
  // request (the text key below is a concatenation of the whole operation, rebuilt each time).
  // Weak: an entry goes with its document; the LRU still bounds what text lookups keep.
  const byDocument = new WeakMap<DocumentNode, Map<string, CompiledQuery | null>>();
  const compiledFor = (run: SubgraphExecution): CompiledQuery | null => {
    const name = run.operationName ?? "";
    let perName = byDocument.get(run.document);
    let entry = perName?.get(name);
    if (entry !== undefined) return entry;
    const key = `${name}\n${run.query}`;
    entry = compiled.get(key);
    if (entry === undefined) {
      const c = compileQuery(schema, run.document, run.operationName ?? undefined);
      entry = isCompiledQuery(c) ? c : null;
      compiled.set(key, entry);
    }
    if (perName === undefined) byDocument.set(run.document, (perName = new Map()));
    perName.set(name, entry);
    return entry;
  };
  return (run) => {
    const entry = compiledFor(run);
    if (entry === null) {
      return execute({
        schema,
        document: run.document,
        variableValues: run.variables ?? undefined,
        operationName: run.operationName ?? undefined,
        contextValue: run.contextValue,
      });
    }
    return entry.query(undefined, run.contextValue, run.variables ?? {});
  };
}
