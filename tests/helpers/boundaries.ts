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

const IMPORT_RE =
  /(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|require\(\s*["']([^"']+)["']\s*\)|import\s*["']([^"']+)["']/g;

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

/**
 * Import cycles among `files` (relative imports only, type-only imports included: a cycle of
 * types still ties the files' designs together). Returns each strongly connected component of
 * more than one file (or a file importing itself), as sorted paths; empty when the graph is
 * acyclic. Tarjan's algorithm (R. Tarjan, "Depth-first search and linear graph algorithms", 1972).
 */
export function findCycles(files: readonly SourceFile[]): string[][] {
  const known = new Set(files.map((f) => normalize(f.path)));
  const edges = new Map<string, string[]>();
  for (const f of files) {
    const from = normalize(f.path);
    const to = importsOf(f.source)
      .filter((s) => s.startsWith("."))
      .map((s) => normalize(join(dirname(from), s)))
      .filter((p) => known.has(p));
    edges.set(from, to);
  }
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, idx.get(w) as number));
    }
    if (low.get(v) !== idx.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop() as string;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || (edges.get(v) ?? []).includes(v)) cycles.push(scc.sort());
  };
  for (const v of edges.keys()) if (!idx.has(v)) visit(v);
  return cycles;
}
