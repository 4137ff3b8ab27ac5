import { reference, typed } from "../../kernel/graphql/resolvers.ts";
import {
  AppError,
  ErrorCode,
  liveEvents,
  money,
  notFound,
  unauthenticated,
  type Bus,
  type Identity,
  type Money,
  type Resolvers,
} from "../../kernel/index.ts";
import { placeOrder, type CheckoutDeps } from "./checkout.ts";
import type { CheckoutSagas } from "./saga.ts";
import { OrderEventTypes, type OrderStatusChangedEvent } from "./contract/index.ts";
import { ADMIN_ROLE, cancelOrder, setOrderStatus } from "./transitions.ts";
import type { OrderStatus } from "./storage/types.ts";
import { DateTimeScalar } from "../../kernel/graphql/scalars.ts";
import type { OrderItemRecord, OrderRecord } from "./storage/types.ts";
import type { OrderItemInput } from "./validation.ts";

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
export function createResolvers(deps: CheckoutDeps & { bus: Bus; checkout?: CheckoutSagas }): Resolvers {
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
      payOrder: typed<unknown, { orderId: string; payment: { token: string } }>((_p, { orderId, payment }, ctx) => {
        if (!deps.checkout) throw new AppError(ErrorCode.SERVICE_UNAVAILABLE, "payments are not available with this order store");
        return deps.checkout.pay({ orderId, token: payment.token, identity: ctx.identity, headers: ctx.headers, logger: ctx.logger });
      }),
      cancelOrder: typed<unknown, { id: string }>((_p, { id }, ctx) =>
        cancelOrder(deps, { orderId: id, identity: ctx.identity, headers: ctx.headers, logger: ctx.logger }),
      ),
      setOrderStatus: typed<unknown, { id: string; status: OrderStatus }>((_p, { id, status }, ctx) =>
        setOrderStatus(deps, { orderId: id, status, identity: ctx.identity, headers: ctx.headers, logger: ctx.logger }),
      ),
    },
    Subscription: {
      orderStatusChanged: {
        // Checked once at subscribe time (errors end the subscription before it starts), then
        // every event is filtered to what this caller may see.
        subscribe: typed<unknown, { orderId?: string | null }>(async (_p, { orderId }, ctx) => {
          const identity = ctx.identity;
          if (!identity) throw unauthenticated();
          const admin = identity.roles.includes(ADMIN_ROLE);
          if (orderId != null) {
            const order = await store.byId(orderId);
            // Unknown and foreign ids look the same, as in Query.order: ids cannot be probed.
            if (!order || (!admin && order.accountId !== identity.accountId)) throw notFound("order", orderId);
          }
          return liveEvents(deps.bus, OrderEventTypes.statusChanged, {
            filter: (e) => (orderId == null || e.orderId === orderId) && (admin || e.accountId === identity.accountId),
            onMalformed: (msg, err) => ctx.logger.warn({ err, subject: msg.subject }, "malformed order.status_changed ignored"),
          });
        }),
        // Per event: the order as stored, with the status this event announced (a later change
        // may already be stored; it comes as its own event).
        resolve: typed<OrderStatusChangedEvent>(async (e) => {
          const order = await store.byId(e.orderId);
          if (!order) throw notFound("order", e.orderId);
          return { ...order, status: e.status };
        }),
      },
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
      orders: typed<{ id: string }>((account, _a, ctx) => (ctx.identity?.accountId === account.id ? store.byAccount(account.id) : [])),
    },
  };
}
