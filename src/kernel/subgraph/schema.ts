/**
 * The executable schema a module serves as a federation subgraph.
 *
 * `buildSubgraphSchema` (`@apollo/subgraph`) validates and completes the module's SDL with
 * `@apollo/federation-internals` (federation directives, `_service`, `_entities`, `_Any`, ...),
 * which is the costliest step of a module's start (tens of ms per module on a cold process). Its
 * outcome is a pure function of the SDL, so scripts/build.ts runs that step when the binary is
 * built and embeds the result ({@link PREBUILT_SUBGRAPHS}, prebuilt-data.ts); the binary then
 * only builds the graphql-js schema from the completed SDL and wires the same resolvers
 * `buildSubgraphSchema` wires (see {@link fromPrebuilt}). The build checks, module by module,
 * that the two schemas print identically and answer `_service` identically, and embeds nothing
 * for a module where they do not. Any SDL without an entry (source runs, other SDLs) takes
 * `buildSubgraphSchema` as before.
 */
import { addResolversToSchema, type GraphQLResolverMap } from "@apollo/subgraph/dist/schema-helper";
import { entitiesResolver } from "@apollo/subgraph/dist/types";
import { buildASTSchema, parse, type GraphQLSchema } from "graphql";
import { PREBUILT_SUBGRAPHS, type PrebuiltSubgraph } from "./prebuilt-data.ts";

export type { PrebuiltSubgraph } from "./prebuilt-data.ts";

/**
 * The subgraph schema of `typeDefs` with `resolvers`: what `buildSubgraphSchema({ typeDefs:
 * parse(typeDefs), resolvers })` returns, from the build-time entry when there is one.
 * @param key the entry's key: the SHA-256 (hex) of `typeDefs` (the kernel's `sdlHash`).
 * @param prebuilt the entries to look in: the binary's embedded ones unless given (tests).
 * @throws (rejects with) what `buildSubgraphSchema` throws for an invalid SDL (never for an embedded one).
 */
export async function subgraphSchema(
  key: string,
  typeDefs: string,
  resolvers: GraphQLResolverMap<unknown>,
  prebuilt: Readonly<Record<string, PrebuiltSubgraph>> = PREBUILT_SUBGRAPHS,
): Promise<GraphQLSchema> {
  const entry = Object.hasOwn(prebuilt, key) ? prebuilt[key] : undefined;
  if (entry) return fromPrebuilt(entry, resolvers);
  // Imported only here: @apollo/subgraph's entry evaluates @apollo/federation-internals, which
  // a binary whose every module SDL is prebuilt never needs at start.
  const { buildSubgraphSchema } = await import("@apollo/subgraph");
  return buildSubgraphSchema({ typeDefs: parse(typeDefs), resolvers });
}

/**
 * The second half of `buildSubgraphSchema` (@apollo/subgraph 2.x, buildSubgraphSchema.js):
 * `subgraph.schema.toGraphQLJSSchema()` is `buildASTSchema` of the completed SDL, then the
 * `_service` resolver, the `_entities` / `_Entity` resolvers when the subgraph has entities, and
 * the module's resolvers, in that order.
 *
 * The SDL and the schema are not validated again (`assumeValidSDL`, `assumeValid`): the build
 * validated both (scripts/build.ts `prebuiltSubgraphs`), and validation is a pure function of
 * them, so it can only pass here too; it was most of the time this function took.
 */
export function fromPrebuilt(entry: PrebuiltSubgraph, resolvers: GraphQLResolverMap<unknown> | undefined): GraphQLSchema {
  const schema = buildASTSchema(parse(entry.schemaSdl), { assumeValidSDL: true, assumeValid: true });
  const sdl = entry.serviceSdl;
  addResolversToSchema(schema, { [entry.queryType]: { _service: () => ({ sdl }) } });
  if (entry.hasEntities) {
    addResolversToSchema(schema, {
      [entry.queryType]: {
        _entities: (
          _source: unknown,
          { representations }: { representations: readonly unknown[] },
          context: unknown,
          info: Parameters<typeof entitiesResolver>[0]["info"],
        ) => entitiesResolver({ representations, context, info }),
      },
      _Entity: {
        __resolveType(parent: { __typename: string }) {
          return parent.__typename;
        },
      },
    } as GraphQLResolverMap<unknown>);
  }
  if (resolvers) addResolversToSchema(schema, resolvers);
  return schema;
}
