import { join } from "node:path";
import { ROOT } from "../helpers/topology.ts";

/** One broken rule, as dependency-cruiser reports it (paths relative to the cruised root). */
export interface Violation {
  rule: string;
  from: string;
  to: string;
  /** For `no-circular`: the files of the cycle, in import order. */
  cycle?: string[];
}

/** The part of dependency-cruiser's JSON output read here. */
interface CruiseOutput {
  summary: {
    violations: { rule: { name: string }; from: string; to: string; cycle?: { name: string }[] }[];
    totalCruised: number;
    totalDependenciesCruised: number;
  };
}

/**
 * Runs dependency-cruiser with the repository's rules (.dependency-cruiser.cjs) over
 * `root`'s `src/**\/*.ts`, through its CLI (what `npm run depcruise` runs; under Bun, as
 * the test runs under Bun like the rest of the suite).
 * @returns the violations, and how many files and dependencies were read.
 * @throws Error when dependency-cruiser fails to run (not when rules are broken).
 */
export function cruise(root: string): { violations: Violation[]; files: number; dependencies: number } {
  const run = Bun.spawnSync(
    [
      process.execPath,
      join(ROOT, "node_modules/dependency-cruiser/bin/dependency-cruise.mjs"),
      "--config",
      join(ROOT, ".dependency-cruiser.cjs"),
      "--output-type",
      "json",
      "src/**/*.ts",
    ],
    { cwd: root, stdout: "pipe", stderr: "pipe" },
  );
  const out = run.stdout.toString();
  if (!out.startsWith("{")) throw new Error(`dependency-cruiser failed (exit ${run.exitCode}): ${run.stderr.toString()}`);
  const { summary } = JSON.parse(out) as CruiseOutput;
  return {
    violations: summary.violations.map((v) => ({
      rule: v.rule.name,
      from: v.from,
      to: v.to,
      ...(v.cycle ? { cycle: v.cycle.map((c) => c.name) } : {}),
    })),
    files: summary.totalCruised,
    dependencies: summary.totalDependenciesCruised,
  };
}
