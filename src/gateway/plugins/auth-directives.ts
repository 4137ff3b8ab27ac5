import { useGenericAuth, type ValidateUserFnParams } from "@envelop/generic-auth";
import type { Plugin } from "graphql-yoga";
import { GraphQLError, type FieldNode } from "graphql";
import { ErrorCode } from "../../kernel/errors.ts";
import type { Identity } from "../../kernel/identity.ts";
import type { GatewayContext } from "../context.ts";

/**
 * Enforces the Apollo Federation authorization directives that composition keeps in the
 * supergraph (`@authenticated` and `@requiresScopes`, imported by subgraphs from
 * `https://specs.apollo.dev/federation/v2.5`), as Hive Gateway does: with
 * `@envelop/generic-auth` in `protect-granular` mode, before any subgraph is called.
 *
 * Semantics (field or type level):
 * - `@authenticated`: the caller must have a verified identity (a valid bearer token).
 * - `@requiresScopes(scopes: [["a", "b"], ["c"]])`: the caller's scopes must contain every scope
 *   of at least one inner list (OR of ANDs). A caller's scopes are its roles (`Identity.roles`,
 *   the JWT `roles` claim), e.g. `["customer"]` or `["customer", "admin"]`.
 *
 * Errors (field-level, never the whole operation): an unauthorized field is removed from the
 * operation before it is planned, so no subgraph sees it; it comes back `null` with one error
 * at its path, and every other field of the response is resolved normally.
 * - No identity on a protected field → `extensions.code` `UNAUTHENTICATED`.
 * - An identity lacking the scopes → `FORBIDDEN` (the issue allows `UNAUTHORIZED`/`FORBIDDEN`;
 *   `FORBIDDEN` is the code the subgraphs already use for "known caller, not allowed").
 * The HTTP status stays 200 (a partial GraphQL result), as for any other field error.
 *
 * Not a replacement for checks in the modules: a module never trusts that the gateway ran
 * (defence in depth), so subgraph resolvers check the forwarded identity as well.
 */
export function useAuthDirectives(): Plugin<GatewayContext> {
  return useGenericAuth<Identity, GatewayContext, "identity">({
    mode: "protect-granular",
    // The HTTP edge (http.ts) has already verified the token and put the identity here.
    contextFieldName: "identity",
    resolveUserFn: (ctx) => ctx.identity,
    extractScopes: scopesOf,
    // false: reject only the unauthorized fields (null + error), keep the rest of the result.
    rejectUnauthenticated: false,
    validateUser: validateDirectives,
  }) as Plugin<GatewayContext>;
}

/** The scopes `@requiresScopes` is checked against: the identity's roles. */
export const scopesOf = (identity: Identity | null | undefined): string[] => identity?.roles ?? [];

/**
 * True when `scopes` satisfies a `@requiresScopes` argument: every scope of at least one inner
 * list is held. An empty outer list can never be satisfied (as in Apollo's router).
 */
export function satisfiesScopes(required: readonly (readonly string[])[], scopes: readonly string[]): boolean {
  return required.some((all) => all.every((s) => scopes.includes(s)));
}

/**
 * The per-field decision for `@envelop/generic-auth`: returns the error that replaces the
 * field, or undefined to let it through.
 */
function validateDirectives(params: ValidateUserFnParams<Identity | null>): GraphQLError | undefined {
  const requiredScopes = [params.typeScopes, params.fieldScopes].filter((s): s is string[][] => s !== undefined);
  const protectedField = params.typeAuthArgs !== undefined || params.fieldAuthArgs !== undefined || requiredScopes.length > 0;
  if (!protectedField) return undefined;
  const where = `${params.parentType.name}.${params.field.name}`;
  if (!params.user) {
    return fieldError(`${where} requires authentication`, ErrorCode.UNAUTHENTICATED, params.fieldNode, params.path);
  }
  for (const required of requiredScopes) {
    if (!satisfiesScopes(required, params.userScopes)) {
      const wanted = required.map((all) => all.join(" and ")).join(" or ");
      return fieldError(`${where} requires the role ${wanted}`, ErrorCode.FORBIDDEN, params.fieldNode, params.path);
    }
  }
  return undefined;
}

// No `extensions.http.status`: yoga would turn it into the status of the whole response,
// and a partial result is a 200 like any other field error.
function fieldError(message: string, code: ErrorCode, node: FieldNode, path: ReadonlyArray<string | number>): GraphQLError {
  return new GraphQLError(message, { nodes: [node], path: [...path], extensions: { code } });
}
