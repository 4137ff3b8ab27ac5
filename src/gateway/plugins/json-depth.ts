/**
 * Nesting limit of a request's JSON (`MAX_JSON_DEPTH`, default 64): `variables` and `extensions`
 * nested deeper are refused before anything else looks at them, with HTTP 400 and
 * `extensions: { code: "JSON_TOO_DEEP", limit }`. A 1 MiB body can nest half a million arrays;
 * recursive code further on (the response cache's key, variable coercion, logging) would run out
 * of stack on it and answer 500. No input type of the schema needs more than a handful of levels.
 */
import type { GraphQLError } from "graphql";
import { createGraphQLError } from "graphql-yoga";
import type { GatewayPlugin } from "./types.ts";

/** Code of a request whose variables or extensions nest deeper than the limit. */
export const JSON_TOO_DEEP = "JSON_TOO_DEEP";

/**
 * True when `value` nests arrays and objects more than `max` levels deep (a scalar is depth 0,
 * `{}` and `[]` depth 1). Iterative, so any depth is measured without recursion.
 */
export function jsonDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [v, depth] = next;
    if (v === null || typeof v !== "object") continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * The `JSON_TOO_DEEP` error for a request (HTTP params or a WebSocket `subscribe` payload) whose
 * `variables` or `extensions` nest deeper than `maxDepth`; undefined when they do not.
 */
export function jsonDepthError(params: { variables?: unknown; extensions?: unknown }, maxDepth: number): GraphQLError | undefined {
  const deep = (["variables", "extensions"] as const).find((k) => jsonDeeperThan(params[k], maxDepth));
  if (!deep) return undefined;
  return createGraphQLError(`request ${deep} nest deeper than ${maxDepth} levels`, {
    extensions: { code: JSON_TOO_DEEP, limit: maxDepth, http: { status: 400 } },
  });
}

/** The limit as a plugin (none for `maxDepth` 0). */
export function useJsonDepthLimit(maxDepth: number): GatewayPlugin[] {
  if (maxDepth <= 0) return [];
  return [
    {
      onParams({ params }) {
        const error = jsonDepthError(params, maxDepth);
        if (error) throw error;
      },
    },
  ];
}
