import type { GraphQLFieldResolver } from "graphql";
import { money, unauthenticated, type Identity, type Money, type Resolvers, type SubgraphContext } from "../../kernel/index.ts";
import { placeOrder, type CheckoutDeps } from "./checkout.ts";
import { DateTimeScalar } from "../../kernel/graphql/scalars.ts";
import type { OrderItemRecord, OrderRecord } from "./storage/types.ts";
import type { OrderItemInput } from "./validation.ts";

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

/** An entity reference for the router to resolve in the owning subgraph. */
interface EntityRef {
  __typename: "Account" | "Product";
  id: string;
}

/** Returns the order only to its owner; anyone else gets null, as if it did not exist. */
const ownedBy = (order: OrderRecord | null, identity: Identity | null): OrderRecord | null =>
  order && identity && order.accountId === identity.accountId ? order : null;

/**
 * The order subgraph's resolvers.
 *
 * Visibility: an order is visible to its owner only. `Query.order` throws UNAUTHENTICATED for
 * anonymous callers and returns null for other accounts' orders (indistinguishable from an
 * unknown id, so ids cannot be probed); the `Order` reference resolver returns null for
 * non-owners. `Account.orders` returns `[]` unless the caller is that account, rather than a
 * FORBIDDEN error: the field is non-null, so an error would null the whole `Account` (e.g.
 * `account(id) { name orders { id } }` would lose the name).
 */
export function createResolvers(deps: CheckoutDeps): Resolvers {
  const { store } = deps;
  return {
    DateTime: DateTimeScalar,
    Query: {
      order: typed<unknown, { id: string }>(async (_p, { id }, ctx) => {
        if (!ctx.identity) throw unauthenticated();
        return ownedBy(await store.byId(id), ctx.identity);
      }),
    },
    Mutation: {
      createOrder: typed<unknown, { input: { items: OrderItemInput[] } }>((_p, { input }, ctx) => {
        if (!ctx.identity) throw unauthenticated();
        return placeOrder(deps, { accountId: ctx.identity.accountId, items: input.items, headers: ctx.headers, logger: ctx.logger });
      }),
    },
    Order: {
      __resolveReference: reference(async (ref, ctx) => ownedBy(await store.byId(ref.id), ctx.identity)),
      account: typed<OrderRecord>((o): EntityRef => ({ __typename: "Account", id: o.accountId })),
      total: typed<OrderRecord>((o): Money => money(o.totalCents, o.currency)),
    },
    OrderItem: {
      product: typed<OrderItemRecord>((i): EntityRef => ({ __typename: "Product", id: i.productId })),
      unitPrice: typed<OrderItemRecord>((i): Money => money(i.unitPriceCents, i.currency)),
      lineTotal: typed<OrderItemRecord>((i): Money => money(i.quantity * i.unitPriceCents, i.currency)),
    },
    Account: {
      __resolveReference: reference((ref) => ({ id: ref.id })),
      orders: typed<{ id: string }>((account, _a, ctx) =>
        ctx.identity?.accountId === account.id ? store.byAccount(account.id) : [],
      ),
    },
  };
}
