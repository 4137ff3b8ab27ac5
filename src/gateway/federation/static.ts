import { Kind, parse, type ConstDirectiveNode } from "graphql";
import { createHash } from "node:crypto";
import type { StoredSupergraph } from "../../kernel/supergraph-store/types.ts";

/** One subgraph of a supergraph file: its `join__graph` name and URL. */
export interface SupergraphSubgraph {
  name: string;
  /** `http(s)://...` (GraphQL over HTTP) or `bus://graphql.<name>` (bus request/reply). */
  url: string;
}

/** Thrown when a supergraph file cannot be used; the message names what is wrong. */
export class SupergraphFileError extends Error {
  override readonly name = "SupergraphFileError";
}

const stringArg = (d: ConstDirectiveNode, arg: string): string | undefined => {
  const v = d.arguments?.find((a) => a.name.value === arg)?.value;
  return v?.kind === Kind.STRING ? v.value : undefined;
};

/**
 * Lists the subgraphs of a supergraph SDL from its `enum join__Graph` values'
 * `@join__graph(name:, url:)` directives.
 * @throws SupergraphFileError when the SDL does not parse, has no `join__Graph` enum, or a
 *   subgraph has no name, an empty URL, or a URL that is neither http(s):// nor bus://.
 */
export function supergraphSubgraphs(sdl: string): SupergraphSubgraph[] {
  let doc: import("graphql").DocumentNode;
  try {
    doc = parse(sdl, { noLocation: true });
  } catch (err) {
    throw new SupergraphFileError(`supergraph does not parse: ${(err as Error).message}`);
  }
  const graphEnum = doc.definitions.find((d) => d.kind === Kind.ENUM_TYPE_DEFINITION && d.name.value === "join__Graph");
  if (!graphEnum || graphEnum.kind !== Kind.ENUM_TYPE_DEFINITION)
    throw new SupergraphFileError("supergraph has no join__Graph enum (not a Federation supergraph?)");
  const out: SupergraphSubgraph[] = [];
  for (const value of graphEnum.values ?? []) {
    const d = value.directives?.find((x) => x.name.value === "join__graph");
    const name = d && stringArg(d, "name");
    const url = d && stringArg(d, "url");
    if (!name) throw new SupergraphFileError(`join__Graph.${value.name.value} has no @join__graph(name:)`);
    if (!url || !/^(https?:\/\/|bus:\/\/)/.test(url))
      throw new SupergraphFileError(`subgraph ${name}: url must be http(s)://... or bus://graphql.<name>, got "${url ?? ""}"`);
    out.push({ name, url });
  }
  if (out.length === 0) throw new SupergraphFileError("supergraph lists no subgraphs");
  return out;
}

/**
 * A supergraph file as the record the {@link SupergraphManager} loads (version 1; subgraph
 * hashes are the sha256 of each subgraph's URL, as there is no subgraph SDL to hash).
 * @throws SupergraphFileError as {@link supergraphSubgraphs}.
 */
export function staticSupergraph(sdl: string): StoredSupergraph {
  const subgraphs: Record<string, string> = {};
  for (const s of supergraphSubgraphs(sdl)) subgraphs[s.name] = createHash("sha256").update(s.url).digest("hex");
  return { version: 1, sdl, subgraphs, composedAt: new Date().toISOString() };
}
