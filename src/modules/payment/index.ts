import type { Kernel } from "../../kernel/index.ts";
import { createPaymentModule, paymentModule, type PaymentModuleOptions } from "./module.ts";

export * from "./contract/index.ts";
export { createPaymentModule, paymentModule, type PaymentModuleOptions };

/** Adds the payment module to a kernel (called by `src/module-list.ts`). */
export function register(kernel: Kernel): void {
  kernel.addModule(paymentModule);
}
