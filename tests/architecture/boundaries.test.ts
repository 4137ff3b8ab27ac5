import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ROOT } from "../helpers/topology.ts";
import { cruise } from "./cruise.ts";
import { MODULES } from "../../src/module-list.ts";

/**
 * The architecture rules of .dependency-cruiser.cjs (import cycles, module boundaries, src/
 * importing nothing of tests/ or scripts/) hold for src/, and each of them can fail.
 */
setDefaultTimeout(120_000);

const fixtures: string[] = [];
afterAll(() => {
  for (const dir of fixtures) rmSync(dir, { recursive: true, force: true });
});

/** A throwaway tree of `files` (path relative to its root → source). */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "switchyard-depcruise-"));
  fixtures.push(root);
  for (const [path, source] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), source);
  }
  return root;
}

describe("architecture rules (dependency-cruiser)", () => {
  test("src/ breaks none of them", () => {
    const r = cruise(ROOT);
    // Sanity: the TypeScript sources were read, with their imports (not an empty pass).
    expect(r.files).toBeGreaterThan(150);
    expect(r.dependencies).toBeGreaterThan(500);
    expect(r.violations).toEqual([]);
  });

  test("every module has a contract/ and a register entry", () => {
    for (const m of Object.keys(MODULES)) {
      const index = readFileSync(join(ROOT, "src/modules", m, "index.ts"), "utf8");
      expect(index).toMatch(/export function register\(kernel: Kernel\)/);
      expect(readFileSync(join(ROOT, "src/modules", m, "contract/index.ts"), "utf8").length).toBeGreaterThan(0);
    }
  });

  test("each rule catches what it forbids (static, dynamic, re-export, side-effect and type-only imports)", () => {
    const root = tree({
      // A cycle through a type-only import and a re-export; d.ts only imports into it.
      "src/a.ts": `import type { B } from "./b.ts";\nexport type A = B;\n`,
      "src/b.ts": `import type { C } from "./dir/c.ts";\nexport type B = C;\n`,
      "src/dir/c.ts": `export * from "../a.ts";\nexport type C = number;\n`,
      "src/d.ts": `import { a } from "./a.ts";\n`,
      // Allowed: a module through another's contract/, the module list through a module's index.ts.
      "src/modules/catalog/contract/index.ts": `export const z = 1;\n`,
      "src/modules/catalog/storage/sqlite.ts": `import "../../../gateway/y.ts";\nexport const s = 1;\n`,
      "src/modules/order/index.ts": `export function register(): void {}\n`,
      "src/module-list.ts": `import { register } from "./modules/order/index.ts";\nexport const M = [register];\n`,
      // Forbidden: another module's internals (static, dynamic, an import("...") type).
      "src/modules/order/resolvers.ts": `import { s } from "../catalog/storage/sqlite.ts";\nimport { z } from "../catalog/contract/index.ts";\nexport const r = s + z;\n`,
      "src/modules/order/lazy.ts": `export const m = await import("../account/module.ts");\n`,
      "src/modules/account/module.ts": `export const a = 1;\n`,
      "src/modules/payment/types.ts": `export type T = import("../order/resolvers.ts").R;\n`,
      // Forbidden: a file of another module's contract/ other than its index.ts.
      "src/modules/catalog/contract/events.ts": `export const e = 1;\n`,
      "src/modules/payment/events.ts": `import { e } from "../catalog/contract/events.ts";\nexport const p = e;\n`,
      // Forbidden: the gateway importing a module, the kernel importing the gateway.
      "src/gateway/x.ts": `export { z } from "../modules/catalog/contract/index.ts";\n`,
      "src/gateway/y.ts": `export const y = 1;\n`,
      "src/kernel/k.ts": `import "../gateway/y.ts";\n`,
      // Forbidden: src/ importing tests/ or scripts/.
      "src/main.ts": `import { h } from "../tests/helper.ts";\nimport { t } from "../scripts/tool.ts";\nexport const x = h + t;\n`,
      "tests/helper.ts": `export const h = 1;\n`,
      "scripts/tool.ts": `export const t = 1;\n`,
    });
    const r = cruise(root);
    const edges = r.violations
      .filter((v) => v.rule !== "no-circular")
      .map((v) => `${v.rule}: ${v.from} -> ${v.to}`)
      .sort();
    expect(edges).toEqual([
      "gateway-imports-no-module: src/gateway/x.ts -> src/modules/catalog/contract/index.ts",
      "kernel-imports-no-module-or-gateway: src/kernel/k.ts -> src/gateway/y.ts",
      "module-internals: src/modules/order/lazy.ts -> src/modules/account/module.ts",
      "module-internals: src/modules/order/resolvers.ts -> src/modules/catalog/storage/sqlite.ts",
      "module-internals: src/modules/payment/events.ts -> src/modules/catalog/contract/events.ts",
      "module-internals: src/modules/payment/types.ts -> src/modules/order/resolvers.ts",
      "modules-import-no-gateway: src/modules/catalog/storage/sqlite.ts -> src/gateway/y.ts",
      "src-imports-no-tests-or-scripts: src/main.ts -> scripts/tool.ts",
      "src-imports-no-tests-or-scripts: src/main.ts -> tests/helper.ts",
    ]);
    const cycles = r.violations.filter((v) => v.rule === "no-circular");
    expect(cycles.length).toBeGreaterThan(0);
    // Every edge reported is one of the a -> b -> c -> a cycle; d.ts, which only imports into it, is not.
    for (const v of cycles) {
      expect(["src/a.ts", "src/b.ts", "src/dir/c.ts"]).toContain(v.from);
      expect([...(v.cycle ?? [])].sort()).toEqual(["src/a.ts", "src/b.ts", "src/dir/c.ts"]);
    }
  });
});
