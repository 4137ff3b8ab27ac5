import type { Kernel } from "../../kernel/index.ts";
import { createOrderModule, orderModule, type OrderModuleOptions } from "./module.ts";

export * from "./contract/index.ts";
export { createOrderModule, orderModule, type OrderModuleOptions };

/** Adds the order module to a kernel (called by `src/module-list.ts`). */
export function register(kernel: Kernel): void {
  kernel.addModule(orderModule);
}
