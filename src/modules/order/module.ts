import type { ModuleContext, ModuleDefinition } from "../../kernel/index.ts";
import { ORDER_SDL, OrderEvents } from "./contract/index.ts";
import { createResolvers } from "./resolvers.ts";
import { openPostgresOrderStore } from "./storage/postgres.ts";
import { openSqliteOrderStore } from "./storage/sqlite.ts";
import type { OrderStore } from "./storage/types.ts";

export interface OrderModuleOptions {
  /**
   * Opens the module's store. Default: {@link openOrderStore} (the database `ctx.database`
   * names, migrated). The module closes the store on stop. Tests inject failing stores through it.
   */
  storeFactory?: (ctx: ModuleContext) => OrderStore | Promise<OrderStore>;
}

/**
 * Opens the store on the database the kernel assigned: a PostgreSQL pool of `poolMax`
 * connections for `{ kind: "postgres" }`, else the SQLite file. Migrated before it returns.
 * @throws MigrationError when the database was migrated by newer code; the driver's error
 *   when it cannot be opened.
 */
export async function openOrderStore(ctx: ModuleContext): Promise<OrderStore> {
  const db = ctx.database;
  if (db.kind === "postgres") return openPostgresOrderStore(db.url, { poolMax: db.poolMax, logger: ctx.logger });
  return openSqliteOrderStore(db.path);
}

/**
 * Builds the order module: orders and checkout. It reaches the catalog only over the bus
 * (`catalog.stock.reserve` / `catalog.stock.release`) and announces orders with
 * `order.created`. Owns `<DATA_DIR>/order.sqlite` by default, or the PostgreSQL database
 * `ctx.database` names.
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
      const store = await (opts.storeFactory ?? openOrderStore)(ctx);
      try {
        const resolvers = createResolvers({ store, call: ctx.call, emit: ctx.emit });
        return { resolvers, stop: () => store.close() };
      } catch (err) {
        await store.close();
        throw err;
      }
    },
  };
}

/** The order module with its default storage (SQLite or PostgreSQL, from `ctx.database`). */
export const orderModule: ModuleDefinition = createOrderModule();
