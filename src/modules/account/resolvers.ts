import type { GraphQLFieldResolver } from "graphql";
import { unauthenticated, type Resolvers, type SubgraphContext } from "../../kernel/index.ts";
import { DateTimeScalar } from "../../kernel/graphql/scalars.ts";
import type { AccountService } from "./service.ts";
import type { AccountRecord, AccountStore } from "./storage/types.ts";
import type { RegisterInput } from "./validation.ts";

type Resolver = GraphQLFieldResolver<unknown, SubgraphContext>;

/** Adapts a typed resolver to the resolver map; graphql-js has already checked args against the SDL. */
const typed =
  <P, A = Record<string, never>>(fn: (parent: P, args: A, ctx: SubgraphContext) => unknown): Resolver =>
  (parent, args, ctx) =>
    fn(parent as P, args as A, ctx);

/** Adapts an Apollo `__resolveReference(representation, context)` function. */
const reference =
  (fn: (ref: { id: string }, ctx: SubgraphContext) => unknown): Resolver =>
  (ref, ctx: SubgraphContext) =>
    fn(ref as { id: string }, ctx);

/**
 * The account subgraph's resolvers. `Account` fields resolve from {@link AccountRecord} by
 * default field resolution (the record's keys match the SDL; the password hash is never on it).
 */
export function createResolvers(store: AccountStore, service: AccountService): Resolvers {
  return {
    DateTime: DateTimeScalar,
    Query: {
      me: typed<unknown>((_p, _a, ctx): Promise<AccountRecord | null> => {
        if (!ctx.identity) throw unauthenticated();
        return store.byId(ctx.identity.accountId);
      }),
      account: typed<unknown, { id: string }>((_p, { id }) => store.byId(id)),
    },
    Mutation: {
      register: typed<unknown, { input: RegisterInput }>((_p, { input }, ctx) => service.register(input, ctx.headers)),
      login: typed<unknown, { email: string; password: string }>((_p, { email, password }) => service.login(email, password)),
    },
    Account: {
      __resolveReference: reference((ref) => store.byId(ref.id)),
    },
  };
}
