import type { GraphQLFieldResolver } from "graphql";
import type { SubgraphContext } from "../module.ts";

/** A field resolver of a module's subgraph: its context is the kernel's {@link SubgraphContext}. */
export type Resolver = GraphQLFieldResolver<unknown, SubgraphContext>;

/**
 * Adapts a typed resolver `(parent: P, args: A, ctx)` to the resolver map; graphql-js has
 * already checked `args` against the SDL, so the casts only restate what the schema guarantees.
 */
export const typed =
  <P, A = Record<string, never>>(fn: (parent: P, args: A, ctx: SubgraphContext) => unknown): Resolver =>
  (parent, args, ctx) =>
    fn(parent as P, args as A, ctx);

/**
 * Adapts an Apollo Federation `__resolveReference(representation, context)` function (the
 * entity's reference resolver: `representation` carries the `@key` fields, here `{ id }`).
 */
export const reference =
  (fn: (ref: { id: string }, ctx: SubgraphContext) => unknown): Resolver =>
  (ref, ctx: SubgraphContext) =>
    fn(ref as { id: string }, ctx);
