import type { ModuleDefinition } from "../../kernel/index.ts";
import { OrderEvents } from "../order/contract/events.ts";
import { CATALOG_SDL, CatalogEvents, CatalogSubjects } from "./contract/index.ts";
import { createResolvers } from "./resolvers.ts";
import { seedDemoCatalog } from "./seed.ts";
import { serveStock } from "./stock.ts";
import { openSqliteCatalogStore } from "./storage/sqlite.ts";

/**
 * The catalog module: products, categories, full-text search, and stock reservations.
 * Owns `<DATA_DIR>/catalog.sqlite`; seeds the demo catalog on first start when `SEED` is on.
 */
export const catalogModule: ModuleDefinition = {
  name: "catalog",
  version: "0.1.0",
  dependsOn: [],
  typeDefs: CATALOG_SDL,
  subjects: [CatalogSubjects.reserveStock, CatalogSubjects.releaseStock],
  publishes: [CatalogEvents.stockChanged],
  consumes: [OrderEvents.created],
  async start(ctx) {
    const store = openSqliteCatalogStore(ctx.databasePath);
    try {
      if (ctx.config.seed) {
        const n = await seedDemoCatalog(store);
        if (n > 0) ctx.logger.info({ products: n }, `seeded demo catalog with ${n} products`);
        else ctx.logger.debug("catalog not empty; seed skipped");
      }
      serveStock(ctx, store);
    } catch (err) {
      await store.close();
      throw err;
    }
    return { resolvers: createResolvers(store), stop: () => store.close() };
  },
};
