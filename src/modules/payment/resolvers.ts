import { reference, typed } from "../../kernel/graphql/resolvers.ts";
import { money, type Identity, type Money, type Resolvers } from "../../kernel/index.ts";
import { DateTimeScalar } from "../../kernel/graphql/scalars.ts";
import type { PaymentRecord, PaymentStore } from "./storage/types.ts";

/** A payment is visible to the account that owns its order only; anyone else sees null. */
const ownedBy = (p: PaymentRecord | null, identity: Identity | null): PaymentRecord | null =>
  p && identity && p.accountId === identity.accountId ? p : null;

/** The payment subgraph's resolvers: `Payment`, `Query.payment`, and `Order.payment` for the order entity. */
export function createResolvers(store: PaymentStore): Resolvers {
  return {
    DateTime: DateTimeScalar,
    Query: {
      payment: typed<unknown, { id: string }>(async (_p, { id }, ctx) => ownedBy(await store.byId(id), ctx.identity)),
    },
    Payment: {
      __resolveReference: reference(async (ref, ctx) => ownedBy(await store.byId(ref.id), ctx.identity)),
      amount: typed<PaymentRecord>((p): Money => money(p.amountCents, p.currency)),
      providerReference: typed<PaymentRecord>((p) => p.providerRef),
      chargeRequired: typed<PaymentRecord>((p) => p.amountCents > 0),
    },
    Order: {
      // Any order id is accepted: the gateway only asks for orders the order subgraph resolved
      // for their owner, and the payment itself is checked against the caller again.
      __resolveReference: reference((ref) => ({ id: ref.id })),
      payment: typed<{ id: string }>(async (o, _a, ctx) => ownedBy(await store.latestForOrder(o.id), ctx.identity)),
    },
  };
}
