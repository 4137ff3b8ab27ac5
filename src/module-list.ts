import type { Kernel } from "./kernel/kernel.ts";
import { register as registerAccount } from "./modules/account/index.ts";
import { register as registerCatalog } from "./modules/catalog/index.ts";
import { register as registerOrder } from "./modules/order/index.ts";
import { register as registerPayment } from "./modules/payment/index.ts";

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
