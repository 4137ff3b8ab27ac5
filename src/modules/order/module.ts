import type { ModuleContext, ModuleDefinition } from "../../kernel/index.ts";
import { ORDER_SDL, OrderEvents } from "./contract/index.ts";
import { createResolvers } from "./resolvers.ts";
import { openSqliteOrderStore } from "./storage/sqlite.ts";
import type { OrderStore } from "./storage/types.ts";

export interface OrderModuleOptions {
  /**
   * Opens the module's store. Default: SQLite at `ctx.databasePath`, migrated. The module
   * closes the store on stop. Tests inject failing stores through it.
   */
  storeFactory?: (ctx: ModuleContext) => OrderStore | Promise<OrderStore>;
}

/**
 * Builds the order module: orders and checkout. It reaches the catalog only over the bus
 * (`catalog.stock.reserve` / `catalog.stock.release`) and announces orders with
 * `order.created`. Owns `<DATA_DIR>/order.sqlite` by default.
 */
export function createOrderModule(opts: OrderModuleOptions = {}): ModuleDefinition {
  return {
    name: "order",
    version: "0.1.0",
    dependsOn: ["catalog"],
    typeDefs: ORDER_SDL,
    subjects: [],
    publishes: [OrderEvents.created],
    consumes: [],
    async start(ctx) {
      const store = await (opts.storeFactory ?? ((c: ModuleContext) => openSqliteOrderStore(c.databasePath)))(ctx);
      const resolvers = createResolvers({ store, call: ctx.call, emit: ctx.emit });
      return { resolvers, stop: () => store.close() };
    },
  };
}

/** The order module with its default (SQLite) storage. */
export const orderModule: ModuleDefinition = createOrderModule();
