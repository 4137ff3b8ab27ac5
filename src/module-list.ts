import type { Kernel } from "./kernel/kernel.ts";
import { register as registerAccount } from "./modules/account/index.ts";
import { register as registerCatalog } from "./modules/catalog/index.ts";
import { register as registerOrder } from "./modules/order/index.ts";
import { register as registerPayment } from "./modules/payment/index.ts";
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
