import { defineModule, type ModuleContext, type ModuleDefinition } from "../../kernel/index.ts";
import { PAYMENT_SDL, PaymentCommands, PaymentContract } from "./contract/index.ts";
import { createSandboxProvider, type PaymentProvider } from "./provider.ts";
import { createResolvers } from "./resolvers.ts";
import { PaymentService } from "./service.ts";
import { openPaymentDatabase } from "./storage/store.ts";
import type { PaymentStore } from "./storage/types.ts";
import { paymentOptions, type PaymentOptions } from "./options.ts";
import { PAYMENT_MIGRATIONS } from "./storage/migrations.ts";

export interface PaymentModuleOptions {
  /** Opens the store; default {@link openPaymentStore}. */
  storeFactory?: (ctx: ModuleContext) => PaymentStore | Promise<PaymentStore>;
  /** The provider; default the sandbox with `PAYMENT_PROVIDER_LATENCY_MS`. */
  provider?: PaymentProvider;
}

/**
 * Opens the store on the database the kernel assigned (PostgreSQL pool or SQLite file), migrated.
 * @throws MigrationError / the driver's error.
 */
export function openPaymentStore(ctx: ModuleContext): Promise<PaymentStore> {
  return openPaymentDatabase(ctx.database, ctx.logger);
}

/**
 * Builds the payment module: payments of orders against a (simulated) card provider. Serves
 * `payment.authorize|capture|void|refund` (queue group `payment`, idempotent per key),
 * publishes `payment.status_changed` through its outbox, and contributes `Order.payment`.
 */
export function createPaymentModule(opts: PaymentModuleOptions = {}): ModuleDefinition<PaymentOptions> {
  return defineModule({
    name: "payment",
    options: paymentOptions,
    version: "0.1.0",
    dependsOn: [],
    typeDefs: PAYMENT_SDL,
    contract: PaymentContract,
    storage: { migrations: PAYMENT_MIGRATIONS },
    async start(ctx) {
      const store = await (opts.storeFactory ?? openPaymentStore)(ctx);
      try {
        const provider = opts.provider ?? createSandboxProvider({ latencyMs: ctx.options.paymentProviderLatencyMs });
        const service = new PaymentService(store, provider, ctx.options.paymentProviderTimeoutMs, ctx.logger);
        ctx.serve(PaymentCommands.authorize, (req) => service.authorize(req));
        ctx.serve(PaymentCommands.capture, (req) => service.capture(req));
        ctx.serve(PaymentCommands.void, (req) => service.void(req));
        ctx.serve(PaymentCommands.refund, (req) => service.refund(req));
        ctx.relayOutbox(store.outbox);
        return { resolvers: createResolvers(store), stop: () => store.close() };
      } catch (err) {
        await store.close();
        throw err;
      }
    },
  });
}

/** The payment module with its default storage and the sandbox provider. */
export const paymentModule: ModuleDefinition = createPaymentModule();
