import { defineModule, type ModuleContext, type ModuleDefinition } from "../../kernel/index.ts";
import { ORDER_SDL, OrderContract } from "./contract/index.ts";
import { createResolvers } from "./resolvers.ts";
import { openOrderDatabase, SqlOrderStore } from "./storage/store.ts";
import type { OrderStore } from "./storage/types.ts";
import { intentGraceMs } from "./intents.ts";
import { CheckoutSagas } from "./saga.ts";
import type { PendingLimit, SagaStore } from "./storage/saga.ts";
import { orderLimitsOf } from "./limits.ts";
import { orderOptions, type OrderOptions } from "./options.ts";
import { ORDER_MIGRATIONS } from "./storage/migrations.ts";

/** The saga store on the same database as `store` (SQLite or PostgreSQL), or undefined for other stores. */
export function openSagaStore(store: OrderStore): SagaStore | undefined {
  return store instanceof SqlOrderStore ? store.sagas : undefined;
}

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
export function openOrderStore(ctx: ModuleContext): Promise<OrderStore> {
  return openOrderDatabase(ctx.database, ctx.logger);
}

/**
 * Builds the order module: orders and checkout. It reaches the catalog only over the bus
 * (`catalog.stock.reserve` / `catalog.stock.release`) and announces orders with
 * `order.created`. Owns `<DATA_DIR>/order.sqlite` by default, or the PostgreSQL database
 * `ctx.database` names.
 */
export function createOrderModule(opts: OrderModuleOptions = {}): ModuleDefinition<OrderOptions> {
  return defineModule({
    name: "order",
    options: orderOptions,
    version: "0.1.0",
    dependsOn: ["catalog", "payment"],
    typeDefs: ORDER_SDL,
    contract: OrderContract,
    storage: { migrations: ORDER_MIGRATIONS },
    async start(ctx) {
      const store = await (opts.storeFactory ?? openOrderStore)(ctx);
      try {
        const sagaStore = openSagaStore(store);
        // Checkout (payOrder) needs the saga table: the real stores have it, test doubles may not.
        const checkout = sagaStore
          ? new CheckoutSagas({
              store,
              call: ctx.call,
              emit: ctx.emit,
              sagas: sagaStore,
              logger: ctx.logger.child({ component: "checkout" }),
              providerTimeoutMs: ctx.options.paymentProviderTimeoutMs,
              paymentTimeoutS: ctx.options.orderPaymentTimeoutS,
              intentGraceMs: intentGraceMs(ctx.config, ctx.options, ctx.logger),
            })
          : undefined;
        const intents = sagaStore
          ? {
              add: (id: string, pending?: PendingLimit) => sagaStore.addIntent(id, pending),
              drop: (id: string) => sagaStore.dropIntent(id),
            }
          : undefined;
        const limits = orderLimitsOf(ctx.options);
        const resolvers = createResolvers({
          store,
          call: ctx.call,
          emit: ctx.emit,
          bus: ctx.bus,
          limits,
          ...(checkout ? { checkout } : {}),
          ...(intents ? { intents } : {}),
        });
        // Publishes the events the store committed (order.created, order.status_changed), including
        // what a previous process committed but did not publish.
        if (store.outbox) ctx.relayOutbox(store.outbox);
        // Resumes (or compensates) sagas a previous process left unfinished, and sweeps unpaid
        // orders; never under --migrate (its private bus reaches no catalog or payment module).
        if (!ctx.migrateOnly) checkout?.start();
        return {
          resolvers,
          stop: async () => {
            await checkout?.stop();
            await store.close();
          },
        };
      } catch (err) {
        await store.close();
        throw err;
      }
    },
  });
}

/** The order module with its default storage (SQLite or PostgreSQL, from `ctx.database`). */
export const orderModule: ModuleDefinition = createOrderModule();
