import type { Kernel } from "../../kernel/index.ts";
import { accountModule, createAccountModule, type AccountModuleOptions } from "./module.ts";

export * from "./contract/index.ts";
export { accountModule, createAccountModule, type AccountModuleOptions };

/** Adds the account module to a kernel (called by `src/module-list.ts`). */
export function register(kernel: Kernel): void {
  kernel.addModule(accountModule);
}
