import type { ModuleDefinition } from "./module.ts";

/**
 * Orders definitions so that each comes after the ones it depends on. Dependencies not in the
 * list are ignored (they run in another process). Throws on a dependency cycle.
 * Algorithm: depth-first topological sort (Tarjan 1976), stable in input order.
 */
export function startOrder(defs: readonly ModuleDefinition[]): ModuleDefinition[] {
  const byName = new Map(defs.map((d) => [d.name, d]));
  const out: ModuleDefinition[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (d: ModuleDefinition, path: string[]): void => {
    const s = state.get(d.name);
    if (s === "done") return;
    if (s === "visiting") throw new Error(`module dependency cycle: ${[...path, d.name].join(" -> ")}`);
    state.set(d.name, "visiting");
    for (const dep of d.dependsOn) {
      const next = byName.get(dep);
      if (next) visit(next, [...path, d.name]);
    }
    state.set(d.name, "done");
    out.push(d);
  };
  for (const d of defs) visit(d, []);
  return out;
}
