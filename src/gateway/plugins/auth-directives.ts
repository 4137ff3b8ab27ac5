import { useGenericAuth, type ValidateUserFnParams } from "@envelop/generic-auth";
import type { Plugin } from "graphql-yoga";
import {
  BREAK,
  GraphQLError,
  TypeInfo,
  getNamedType,
  isInterfaceType,
  isObjectType,
  isUnionType,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type FieldNode,
  type GraphQLNamedType,
  type GraphQLSchema,
} from "graphql";
import { getDirectiveExtensions } from "@graphql-tools/utils";
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
  const inner = useGenericAuth<Identity, GatewayContext, "identity">({
    // protect-granular: only fields with a directive are checked (what selectsProtectedField skips on).
    mode: "protect-granular",
    authDirectiveName: AUTH_DIRECTIVES[0],
    scopesDirectiveName: AUTH_DIRECTIVES[1],
    policyDirectiveName: AUTH_DIRECTIVES[2],
    // The HTTP edge (http.ts) has already verified the token and put the identity here.
    contextFieldName: "identity",
    resolveUserFn: (ctx) => ctx.identity,
    extractScopes: scopesOf,
    // false: reject only the unauthorized fields (null + error), keep the rest of the result.
    rejectUnauthenticated: false,
    validateUser: validateDirectives,
  }) as Plugin<GatewayContext>;
  // generic-auth checks fields in an "extended validation" pass on every execution: a TypeInfo
  // walk of the whole document that also rebuilds it. Most operations (every public catalog
  // read, the benchmark's) select no protected field at all; for them the pass is skipped, which
  // also keeps the parsed document's identity (the query planner's plan cache key).
  const guard = (plugin: Plugin<GatewayContext>): Plugin<GatewayContext> => {
    const { onExecute, onSubscribe } = plugin;
    return {
      ...plugin,
      ...(onExecute
        ? {
            onExecute: (payload: Parameters<typeof onExecute>[0]) =>
              selectsProtectedField(payload.args.schema, payload.args.document) ? onExecute(payload) : undefined,
          }
        : {}),
      ...(onSubscribe
        ? {
            onSubscribe: (payload: Parameters<typeof onSubscribe>[0]) =>
              selectsProtectedField(payload.args.schema, payload.args.document) ? onSubscribe(payload) : undefined,
          }
        : {}),
    } as Plugin<GatewayContext>;
  };
  const init = inner.onPluginInit;
  return {
    ...inner,
    ...(init
      ? {
          onPluginInit: (ctx: Parameters<typeof init>[0]) =>
            init({ ...ctx, addPlugin: (p) => ctx.addPlugin(guard(p as Plugin<GatewayContext>)) }),
        }
      : {}),
  } as Plugin<GatewayContext>;
}

/**
 * The authorization directives generic-auth reads, passed to it by name and looked for by
 * {@link selectsProtectedField} (one list, so the skip can never miss a directive it checks):
 * `@authenticated`, `@requiresScopes`, `@policy` (no module uses the last one).
 */
const AUTH_DIRECTIVES = ["authenticated", "requiresScopes", "policy"] as const;

/** Types and fields (`Type.field`) of a schema that carry an authorization directive. */
interface ProtectedCoordinates {
  readonly types: ReadonlySet<string>;
  readonly fields: ReadonlySet<string>;
}

const coordinatesBySchema = new WeakMap<GraphQLSchema, ProtectedCoordinates>();
const verdictsBySchema = new WeakMap<GraphQLSchema, WeakMap<DocumentNode, boolean>>();

function protectedCoordinates(schema: GraphQLSchema): ProtectedCoordinates {
  let known = coordinatesBySchema.get(schema);
  if (known) return known;
  const types = new Set<string>();
  const fields = new Set<string>();
  const hasAuth = (d: Record<string, unknown>): boolean => AUTH_DIRECTIVES.some((name) => d[name] !== undefined);
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith("__") || !(isObjectType(type) || isInterfaceType(type))) continue;
    if (hasAuth(getDirectiveExtensions(type, schema))) types.add(type.name);
    for (const field of Object.values(type.getFields())) {
      if (hasAuth(getDirectiveExtensions(field, schema))) fields.add(`${type.name}.${field.name}`);
    }
  }
  coordinatesBySchema.set(schema, (known = { types, fields }));
  return known;
}

/**
 * True when `document` selects a field that generic-auth would check: a field of a type with an
 * authorization directive, or a field carrying one. Conservative (a superset of what generic-auth
 * checks): `@include`/`@skip` are ignored and a field on an interface counts its implementations.
 * Cached per schema and document object (yoga's parse cache returns the same document for the
 * same operation text).
 */
export function selectsProtectedField(schema: GraphQLSchema, document: DocumentNode): boolean {
  let verdicts = verdictsBySchema.get(schema);
  if (!verdicts) verdictsBySchema.set(schema, (verdicts = new WeakMap()));
  const cached = verdicts.get(document);
  if (cached !== undefined) return cached;
  const { types, fields } = protectedCoordinates(schema);
  let found = false;
  if (types.size > 0 || fields.size > 0) {
    const typeInfo = new TypeInfo(schema);
    const isProtected = (type: GraphQLNamedType, field: string): boolean => types.has(type.name) || fields.has(`${type.name}.${field}`);
    visit(
      document,
      visitWithTypeInfo(typeInfo, {
        Field(node) {
          const parent = typeInfo.getParentType();
          if (!parent) return undefined;
          const named = getNamedType(parent);
          const candidates: GraphQLNamedType[] = [named];
          if (isUnionType(named) || isInterfaceType(named)) candidates.push(...schema.getPossibleTypes(named));
          if (candidates.some((t) => isProtected(t, node.name.value))) {
            found = true;
            return BREAK;
          }
          return undefined;
        },
      }),
    );
  }
  verdicts.set(document, found);
  return found;
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
