import { composeServices } from "@theguild/federation-composition";
import { parse } from "graphql";

/** A subgraph to compose: its name (the module name) and SDL. */
export interface SubgraphSdl {
  name: string;
  sdl: string;
}

export type ComposeResult = { ok: true; supergraphSdl: string } | { ok: false; errors: { message: string; subgraphs: string[] }[] };

/**
 * Composes subgraphs into a supergraph with The Guild's federation composition
 * (`@theguild/federation-composition`, Apollo Federation v2 rules). Each subgraph's URL is
 * `bus://graphql.<name>`: the gateway routes by subgraph name over the bus, never over HTTP.
 * Never throws: SDL parse errors and composition errors are returned with the subgraph names
 * they concern (names found in the message, or all when none is named).
 */
export function composeSupergraph(subgraphs: readonly SubgraphSdl[]): ComposeResult {
  const sorted = [...subgraphs].sort((a, b) => a.name.localeCompare(b.name));
  const names = sorted.map((s) => s.name);
  const services = [];
  for (const s of sorted) {
    try {
      services.push({ name: s.name, typeDefs: parse(s.sdl), url: `bus://graphql.${s.name}` });
    } catch (err) {
      return { ok: false, errors: [{ message: `[${s.name}] ${err instanceof Error ? err.message : String(err)}`, subgraphs: [s.name] }] };
    }
  }
  const result = composeServices(services);
  if (result.errors?.length || !result.supergraphSdl) {
    return {
      ok: false,
      errors: (result.errors ?? []).map((e) => {
        const named = names.filter(
          (n) =>
            e.message.includes(`"${n}"`) ||
            e.message.includes(`[${n}]`) ||
            e.message.includes(`subgraph ${n}`) ||
            e.message.includes(`${n}`),
        );
        return { message: e.message, subgraphs: named.length ? named : names };
      }),
    };
  }
  return { ok: true, supergraphSdl: result.supergraphSdl };
}
