import { dirname, join, normalize, relative, sep } from "node:path";

/** A source file given to the boundary checker: path relative to the repo root, and its text. */
export interface SourceFile {
  path: string;
  source: string;
}

export interface Violation {
  file: string;
  specifier: string;
  rule: string;
}

const IMPORT_RE = /(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|require\(\s*["']([^"']+)["']\s*\)|import\s*["']([^"']+)["']/g;

/** Every module specifier a TypeScript source imports or re-exports (static, dynamic, require, side-effect). */
export function importsOf(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(IMPORT_RE)) {
    const s = m[1] ?? m[2] ?? m[3] ?? m[4];
    if (s) out.push(s);
  }
  return out;
}

const seg = (p: string): string[] => normalize(p).split(sep);

/**
 * Checks the architecture rules:
 * - a module (src/modules/<m>/...) may import another module only through its `contract/`;
 * - modules never import the gateway; the gateway never imports modules;
 * - the kernel imports neither modules nor the gateway.
 * `src/module-list.ts` (the list of modules main.ts starts, outside every module) imports each
 * module's `index.ts` (its `register` entry); nothing inside `src/modules/` may.
 */
export function findViolations(files: readonly SourceFile[]): Violation[] {
  const violations: Violation[] = [];
  for (const f of files) {
    const from = seg(f.path);
    const area = from[1]; // "modules" | "kernel" | "gateway" | "main.ts"
    const ownModule = area === "modules" && from.length > 3 ? from[2] : undefined;
    for (const spec of importsOf(f.source)) {
      if (!spec.startsWith(".")) continue;
      const target = seg(relative(".", join(dirname(f.path), spec)));
      if (target[0] !== "src") continue;
      const tArea = target[1];
      const tModule = tArea === "modules" && target.length > 3 ? target[2] : undefined;
      const add = (rule: string) => violations.push({ file: f.path, specifier: spec, rule });
      if (area === "kernel" && (tArea === "modules" || tArea === "gateway")) add("the kernel must not import modules or the gateway");
      if (area === "gateway" && tArea === "modules") add("the gateway must not import modules (it learns them from the registry)");
      if (ownModule && tArea === "gateway") add("modules must not import the gateway");
      if (ownModule && tModule && tModule !== ownModule && target[3] !== "contract") {
        add(`module ${ownModule} may import module ${tModule} only through ${tModule}/contract/`);
      }
    }
  }
  return violations;
}
