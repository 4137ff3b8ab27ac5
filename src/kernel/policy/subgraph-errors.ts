/**
 * How a subgraph that cannot be reached shows in a GraphQL response: one error with
 * `extensions.code: "SUBGRAPH_UNAVAILABLE"` and the subgraph's name, in place of the fields it
 * owns, so the other subgraphs' data is still returned. Both subgraph executors (bus and HTTP)
 * answer with this shape.
 */
import type { ExecutionResult, GraphQLFormattedError } from "graphql";

/** Error code on fields whose subgraph could not be reached (in time, or its breaker is open). */
export const SUBGRAPH_UNAVAILABLE = "SUBGRAPH_UNAVAILABLE";

/** The error of an unreachable subgraph `name`; `why` is the transport's reason. */
export function subgraphUnavailableError(name: string, why: string): GraphQLFormattedError {
  return { message: `subgraph ${name} unavailable: ${why}`, extensions: { code: SUBGRAPH_UNAVAILABLE, subgraph: name } };
}

/** A result holding only {@link subgraphUnavailableError}. */
export function subgraphUnavailableResult(name: string, why: string): ExecutionResult {
  return { errors: [subgraphUnavailableError(name, why)] } as unknown as ExecutionResult;
}
