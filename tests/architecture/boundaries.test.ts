import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { Glob } from "bun";
import { findCycles, findViolations, importsOf, type SourceFile } from "../helpers/boundaries.ts";
import { ROOT } from "../helpers/topology.ts";

function sources(): SourceFile[] {
  const files: SourceFile[] = [];
  for (const p of new Glob("src/**/*.ts").scanSync({ cwd: ROOT })) {
    files.push({ path: relative(ROOT, join(ROOT, p)), source: readFileSync(join(ROOT, p), "utf8") });
  }
  return files;
}

describe("module boundaries", () => {
  test("no module imports another module's internals; gateway and kernel import no module", () => {
    const files = sources();
    expect(files.length).toBeGreaterThan(20);
    expect(findViolations(files)).toEqual([]);
  });

  test("every module has a contract/ and a register entry", () => {
    for (const m of ["account", "catalog", "order", "payment"]) {
      const index = readFileSync(join(ROOT, "src/modules", m, "index.ts"), "utf8");
      expect(index).toMatch(/export function register\(kernel: Kernel\)/);
      expect(readFileSync(join(ROOT, "src/modules", m, "contract/index.ts"), "utf8").length).toBeGreaterThan(0);
    }
  });

  test("the checker catches violations (it can fail)", () => {
    const bad: SourceFile[] = [
      {
        path: "src/modules/order/resolvers.ts",
        source: `import { x } from "../catalog/storage/sqlite.ts";\nimport { y } from "../catalog/contract/index.ts";`,
      },
      { path: "src/modules/order/a.ts", source: `const m = await import("../account/module.ts");` },
      { path: "src/gateway/x.ts", source: `export { z } from "../modules/catalog/contract/index.ts";` },
      { path: "src/kernel/k.ts", source: `import "../gateway/index.ts";` },
    ];
    const v = findViolations(bad);
    expect(v.map((x) => x.specifier)).toEqual([
      "../catalog/storage/sqlite.ts",
      "../account/module.ts",
      "../modules/catalog/contract/index.ts",
      "../gateway/index.ts",
    ]);
  });

  test("import scanner sees static, dynamic, re-export and side-effect imports", () => {
    const src = `import a from "./a";\nexport * from "./b";\nawait import("./c");\nimport "./d";\nimport type { T } from "./e";`;
    expect(importsOf(src).sort()).toEqual(["./a", "./b", "./c", "./d", "./e"]);
  });
});

describe("import cycles", () => {
  test("src/ has no import cycle (type-only imports included)", () => {
    expect(findCycles(sources())).toEqual([]);
  });

  test("the cycle finder finds a cycle (it can fail)", () => {
    const files: SourceFile[] = [
      { path: "src/a.ts", source: `import { b } from "./b.ts";` },
      { path: "src/b.ts", source: `import type { C } from "./dir/c.ts";` },
      { path: "src/dir/c.ts", source: `export * from "../a.ts";` },
      { path: "src/d.ts", source: `import { a } from "./a.ts";` },
    ];
    expect(findCycles(files)).toEqual([["src/a.ts", "src/b.ts", "src/dir/c.ts"]]);
  });
});
