import type { Kernel } from "../../kernel/index.ts";
import { catalogModule } from "./module.ts";

export * from "./contract/index.ts";
export { catalogModule };

/** Adds the catalog module to a kernel (called by `src/module-list.ts`). */
export function register(kernel: Kernel): void {
  kernel.addModule(catalogModule);
}
