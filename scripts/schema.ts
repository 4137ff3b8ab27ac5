/**
 * The public API schema clients see, as a reviewed artifact: `schema.graphql` at the repository
 * root (what `npm run schema` writes; tests/gateway/public-schema.test.ts fails when it drifts).
 *
 *   bun scripts/schema.ts            # writes schema.graphql from the modules in src/module-list.ts
 *
 * The schema is the one the gateway serves: every module's subgraph composed exactly as the
 * aggregator composes it (scripts/build.ts moduleSubgraphs → composeSupergraph), then turned into
 * the gateway's executable schema by `@graphql-tools/federation` (`join__` and `link__`
 * definitions and `@inaccessible` elements gone, as in the gateway's introspection), printed
 * deterministically (`lexicographicSortSchema` + `printSchema`). The definitions of federation's
 * authorization directives (`@authenticated`, `@requiresScopes` and its `requiresScopes__Scope`
 * scalar), which the gateway's schema keeps for its own authorization plugin, are left out: they
 * are no part of the API a client calls (printSchema prints no directive usages either).
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildSchema, GraphQLSchema, isSpecifiedDirective, lexicographicSortSchema, printSchema } from "graphql";

const ROOT = resolve(import.meta.dir, "..");

/** The committed public schema. */
export const SCHEMA_FILE = join(ROOT, "schema.graphql");

/** The command that rewrites {@link SCHEMA_FILE}. */
export const SCHEMA_COMMAND = "npm run schema";

/**
 * The public schema of a supergraph, as printed into {@link SCHEMA_FILE}: the schema the gateway
 * builds from it (src/gateway/federation/manager.ts), printed by {@link printApiSchema}.
 */
export async function apiSchemaOf(supergraphSdl: string): Promise<string> {
  const { getStitchedSchemaFromSupergraphSdl } = await import("@graphql-tools/federation");
  return printApiSchema(getStitchedSchemaFromSupergraphSdl({ supergraphSdl }));
}

/**
 * `schema` (a gateway's executable schema) printed as {@link SCHEMA_FILE} holds it: without
 * federation's authorization directive definitions, sorted, ending with a newline.
 */
export function printApiSchema(schema: GraphQLSchema): string {
  const served = schema.toConfig();
  // Federation's namespaced definitions (`<directive>__<Type>`); introspection's own start with `__`.
  const federationOnly = (name: string): boolean => name.includes("__") && !name.startsWith("__");
  const api = new GraphQLSchema({
    ...served,
    directives: served.directives.filter(isSpecifiedDirective),
    types: served.types.filter((t) => !federationOnly(t.name)),
  });
  return `${printSchema(lexicographicSortSchema(api))}\n`;
}

/**
 * The public schema of the modules in src/module-list.ts (see the file comment).
 * @throws Error with the composition errors when the modules do not compose.
 */
export async function composedApiSchema(): Promise<string> {
  const [{ moduleSubgraphs }, { composeSupergraph }] = await Promise.all([
    import("./build.ts"),
    import("../src/gateway/federation/compose.ts"),
  ]);
  const composed = composeSupergraph(await moduleSubgraphs());
  if (!composed.ok) throw new Error(`the modules do not compose:\n${composed.errors.map((e) => e.message).join("\n")}`);
  return apiSchemaOf(composed.supergraphSdl);
}

/** Changes from one public schema to another, by criticality (`@graphql-inspector/core` `diff`). */
export interface SchemaChanges {
  /** Changes that break existing clients (a removed field, a changed type, ...). */
  breaking: string[];
  /** Changes that may change what existing clients see (a new enum value, a changed default, ...). */
  dangerous: string[];
  /** Changes no existing client notices (a new field or type, ...). */
  safe: string[];
}

/** The changes from the SDL `before` to the SDL `after`, each as `@graphql-inspector`'s message (with its path). */
export async function schemaChanges(before: string, after: string): Promise<SchemaChanges> {
  const { diff, CriticalityLevel } = await import("@graphql-inspector/core");
  const changes = await diff(buildSchema(before) as GraphQLSchema, buildSchema(after) as GraphQLSchema);
  const of = (level: (typeof CriticalityLevel)[keyof typeof CriticalityLevel]): string[] =>
    changes.filter((c) => c.criticality.level === level).map((c) => (c.path ? `${c.message} (${c.path})` : c.message));
  return { breaking: of(CriticalityLevel.Breaking), dangerous: of(CriticalityLevel.Dangerous), safe: of(CriticalityLevel.NonBreaking) };
}

/** A review-ready report of `changes` (empty lists left out), ending with how to accept them. */
export function formatSchemaChanges(changes: SchemaChanges): string {
  const section = (title: string, list: string[]): string[] =>
    list.length ? [`${title} (${list.length}):`, ...list.map((c) => `  - ${c}`)] : [];
  return [
    ...section("BREAKING changes", changes.breaking),
    ...section("Dangerous changes", changes.dangerous),
    ...section("Non-breaking changes", changes.safe),
    `If the change is intended, run \`${SCHEMA_COMMAND}\` and commit schema.graphql with it.`,
  ].join("\n");
}

if (import.meta.main) {
  const sdl = await composedApiSchema();
  writeFileSync(SCHEMA_FILE, sdl);
  console.log(`wrote ${SCHEMA_FILE} (${sdl.length} bytes)`);
}
