import { liveEvents, notFound, type Bus, type Resolvers, type SubgraphContext } from "../../kernel/index.ts";
import { CatalogEventTypes, type StockChangedEvent } from "./contract/index.ts";
import type { CatalogStore, ProductRecord } from "./storage/types.ts";

/**
 * The catalog's `Subscription` resolvers. `productStockChanged(productId)` streams the product
 * each time `catalog.stock_changed` announces a new stock level for it (reservations, releases,
 * admin `setStock`), whichever catalog instance made the change. Public, like `Query.product`.
 */
export function createSubscriptionResolvers(bus: Bus, store: CatalogStore): Resolvers {
  return {
    Subscription: {
      productStockChanged: {
        subscribe: async (_p: unknown, args: unknown, ctx: SubgraphContext) => {
          const { productId } = args as { productId: string };
          const [product] = await store.productsByIds([productId]);
          if (!product) throw notFound("product", productId);
          return liveEvents(bus, CatalogEventTypes.stockChanged, {
            filter: (e) => e.productId === productId,
            onMalformed: (msg, err) => ctx.logger.warn({ err, subject: msg.subject }, "malformed catalog.stock_changed ignored"),
          });
        },
        // Per event: the product as stored, with the stock level this event announced (a later
        // change may already be stored; it comes as its own event).
        resolve: async (e: unknown): Promise<ProductRecord> => {
          const event = e as StockChangedEvent;
          const [product] = await store.productsByIds([event.productId]);
          if (!product) throw notFound("product", event.productId);
          return { ...product, stock: event.stock };
        },
      },
    },
  };
}
