import type { DocumentNode } from "graphql";
import { Lru } from "../../kernel/subgraph/lru.ts";

/**
 * The gateway's operation caches, handed to graphql-yoga as `parserAndValidationCache`
 * (see yoga.ts). Both are bounded LRUs keyed by the operation's source text, so a client sending
 * endless unique operations evicts old entries instead of growing memory:
 *
 * - `documentCache`: parsed documents (a repeated operation is not parsed again);
 * - `errorCache`: parse errors (a repeated malformed operation is not parsed again either).
 *
 * What these bound in turn (no separate limit needed, all keyed by the cached document's
 * objects in WeakMaps, so they are freed with it):
 * - yoga's validation cache (`WeakMap<DocumentNode, errors>` per schema);
 * - the federation runtime's query plans: `@graphql-tools/stitch` memoizes delegation plans in
 *   WeakMaps keyed by the operation's field nodes, `@graphql-tools/delegate` and
 *   `@graphql-tools/federation` memoize per AST node (`memoize1..5` over WeakMaps), and the bus
 *   executor prints subgraph documents through a WeakMap;
 * - the response cache's document transform (memoized per document in a WeakMap).
 * A supergraph swap drops the old schema and everything keyed by it.
 */
export interface OperationCaches {
  /** Parsed documents by operation text; at most `max` entries. */
  readonly documentCache: Lru<string, DocumentNode>;
  /** Parse errors by operation text; at most `max` entries. */
  readonly errorCache: Lru<string, unknown>;
}

/**
 * Creates the bounded operation caches.
 * @param max entries per cache (`OPERATION_CACHE_MAX`, default 1000); >= 1, else `RangeError`.
 */
export function createOperationCaches(max: number): OperationCaches {
  return { documentCache: new Lru<string, DocumentNode>(max), errorCache: new Lru<string, unknown>(max) };
}
