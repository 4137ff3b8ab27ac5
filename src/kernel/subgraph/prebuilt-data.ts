/**
 * Subgraph schemas completed by `@apollo/federation-internals` when the binary was built (see
 * schema.ts). Empty in the source; scripts/build.ts replaces this module's contents with the
 * entries of the modules compiled in.
 */

/** One module SDL as `buildSubgraphSchema` completes it. */
export interface PrebuiltSubgraph {
  /** `subgraph.schema.toAST()` printed: what `toGraphQLJSSchema` builds the graphql-js schema from. */
  schemaSdl: string;
  /** What `_service { sdl }` answers (`printSchema(subgraph.schema)`). */
  serviceSdl: string;
  /** Name of the query root type. */
  queryType: string;
  /** Whether the subgraph defines entities (then `_entities` and `_Entity` get resolvers). */
  hasEntities: boolean;
}

/** Entries by SHA-256 (hex) of the module's SDL (`sdlHash(typeDefs)`). */
export const PREBUILT_SUBGRAPHS: Readonly<Record<string, PrebuiltSubgraph>> = {};
