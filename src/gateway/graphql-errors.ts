import { GraphQLError } from "graphql";

/**
 * Helpers shared by the gateway plugins that rewrite errors (error-masking, request-errors):
 * classifying an error and copying one with another message or extensions, so no plugin imports
 * another.
 */

/** Code of a masked internal error. */
export const INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR";

/** True when `err` is neither coded nor a GraphQL error all the way down (yoga's notion of "original"). */
export function isUnexpectedError(err: GraphQLError): boolean {
  if (err.extensions?.["code"] !== undefined) return false;
  let cause: unknown = err.originalError;
  while (cause instanceof GraphQLError) {
    if (cause.extensions?.["code"] !== undefined) return false;
    cause = cause.originalError;
  }
  return cause !== undefined && cause !== null;
}

/**
 * A copy of `e` (locations and path kept) with `extensions` replaced. GraphQL errors are
 * immutable by convention: plugins rebuild them.
 * @param opts.message another message (masking); default: `e.message`.
 * @param opts.dropOriginal leave the original error out (a masked error must not carry it on).
 */
export function copyGraphQLError(
  e: GraphQLError,
  extensions: Record<string, unknown>,
  opts: { message?: string; dropOriginal?: boolean } = {},
): GraphQLError {
  return new GraphQLError(opts.message ?? e.message, {
    nodes: e.nodes ?? null,
    source: e.source ?? null,
    positions: e.positions ?? null,
    path: e.path ?? null,
    originalError: opts.dropOriginal ? null : (e.originalError ?? null),
    extensions,
  });
}
