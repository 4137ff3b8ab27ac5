import type { Kernel } from "./kernel/kernel.ts";
import type { ModuleDefinition } from "./kernel/module.ts";
import { accountModule, register as registerAccount } from "./modules/account/index.ts";
import { catalogModule, register as registerCatalog } from "./modules/catalog/index.ts";
import { orderModule, register as registerOrder } from "./modules/order/index.ts";
import { paymentModule, register as registerPayment } from "./modules/payment/index.ts";
import { accountOptions } from "./modules/account/options.ts";
import { catalogOptions } from "./modules/catalog/options.ts";
import { orderOptions } from "./modules/order/options.ts";
import { paymentOptions } from "./modules/payment/options.ts";

/**
 * Every module this binary can run, by name. `MODULES` selects from these (plus `gateway`).
 * Adding a module means adding its `register` here; nothing else refers to module internals.
 */
export const MODULES: Readonly<Record<string, (kernel: Kernel) => void>> = {
  account: registerAccount,
  catalog: registerCatalog,
  order: registerOrder,
  payment: registerPayment,
};

/**
 * Each module's options (its definition's `options`), by name: every process parses all of them,
 * whichever modules it runs, so a bad value fails fast everywhere (src/config.ts).
 */
export const MODULE_OPTIONS = {
  account: accountOptions,
  catalog: catalogOptions,
  order: orderOptions,
  payment: paymentOptions,
} as const satisfies Record<keyof typeof MODULES, unknown>;

/**
 * Each module's definition, by name (the one its `register` hands the kernel): what tools that
 * work on a module without starting it read, e.g. its `storage` for `switchyard data copy`.
 */
export const MODULE_DEFINITIONS = {
  account: accountModule,
  catalog: catalogModule,
  order: orderModule,
  payment: paymentModule,
} as const satisfies Record<keyof typeof MODULES, Pick<ModuleDefinition, "name" | "storage">>;
