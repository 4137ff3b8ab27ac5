import { defineModule, type ModuleContext, type ModuleDefinition } from "../../kernel/index.ts";
import { OrderEventTypes } from "../order/contract/index.ts";
import { CATALOG_SDL, CatalogContract } from "./contract/index.ts";
import { catalogOptions, type CatalogOptions } from "./options.ts";
import { CatalogAdmin } from "./admin.ts";
import { createResolvers } from "./resolvers.ts";
import { createSubscriptionResolvers } from "./subscriptions.ts";
import { seedDemoCatalog } from "./seed.ts";
import { serveStock } from "./stock.ts";
import { openCatalogDatabase } from "./storage/store.ts";
import type { CatalogStore } from "./storage/types.ts";
import { CATALOG_MIGRATIONS } from "./storage/migrations.ts";

/** How often processed event ids older than the inbox retention (7 days) are deleted, ms. */
const INBOX_PRUNE_INTERVAL_MS = 3_600_000;

/**
 * Opens the store on the database the kernel assigned (`ctx.database`: the SQLite file or a
 * PostgreSQL pool of `poolMax` connections). Migrated before it returns.
 * @throws MigrationError when the database was migrated by newer code; the driver's error
 *   when it cannot be opened.
 */
export async function openCatalogStore(ctx: ModuleContext): Promise<CatalogStore> {
  return openCatalogDatabase(ctx.database, { logger: ctx.logger });
}

/**
 * The catalog module: products, categories, full-text search, and stock reservations.
 * Owns `<DATA_DIR>/catalog.sqlite` (or the PostgreSQL database `ctx.database` names); seeds
 * the demo catalog on first start when `SEED` is on.
 */
export const catalogModule: ModuleDefinition<CatalogOptions> = defineModule({
  name: "catalog",
  options: catalogOptions,
  version: "0.1.0",
  dependsOn: [],
  typeDefs: CATALOG_SDL,
  contract: CatalogContract,
  // search_state and search_terms are kept by triggers on products (search_terms on PostgreSQL
  // only; search_state with different columns per dialect).
  storage: { migrations: CATALOG_MIGRATIONS, derived: ["search_state", "search_terms"] },
  consumes: [OrderEventTypes.statusChanged],
  async start(ctx) {
    const store = await openCatalogStore(ctx);
    try {
      if (ctx.options.seed) {
        const n = await seedDemoCatalog(store);
        if (n > 0) ctx.logger.info({ products: n }, `seeded demo catalog with ${n} products`);
        else ctx.logger.debug("catalog not empty; seed skipped");
      }
      serveStock(ctx, store);
    } catch (err) {
      await store.close();
      throw err;
    }
    // Publishes the events the store commits with each change (transactional outbox).
    ctx.relayOutbox(store.outbox);
    // Processed order.status_changed ids older than the inbox retention are deleted hourly (not under --migrate).
    let pruning: Promise<unknown> = Promise.resolve();
    const prune = (): void => {
      pruning = store.pruneInbox().then(
        (n) => n > 0 && ctx.logger.debug({ deleted: n }, "old inbox entries deleted"),
        (err: unknown) => ctx.logger.warn({ err }, "pruning the inbox failed; retrying in an hour"),
      );
    };
    const timer = ctx.migrateOnly ? undefined : setInterval(prune, INBOX_PRUNE_INTERVAL_MS);
    timer?.unref();
    const admin = new CatalogAdmin(store);
    return {
      resolvers: { ...createResolvers(store, admin), ...createSubscriptionResolvers(ctx.bus, store) },
      async stop() {
        clearInterval(timer);
        await pruning;
        await store.close();
      },
    };
  },
});
