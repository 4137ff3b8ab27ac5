/**
 * `npm test`: type-checks the project (`tsc --noEmit`: Bun strips types, so only this sees a
 * broken contract), checks formatting and lint rules (`biome check`, biome.json; each check's
 * failure counts as one failed test), runs the whole suite with `bun test`,
 * writes JUnit XML to reports/junit.xml and ends with one line `N passed, N failed` (bun's own summary spans several lines, which CI
 * does not read). Exits non-zero on any failure or when no test ran.
 * Extra arguments are passed to `bun test` (e.g. a path filter).
 */
import { mkdirSync, readFileSync, existsSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const reports = join(root, "reports");
const junit = join(reports, "junit.xml");
mkdirSync(reports, { recursive: true });
rmSync(junit, { force: true });

const args = process.argv.slice(2);

// The type check first (about 2 s): its result joins the counts of the closing line.
const tsc = Bun.spawnSync([join(root, "node_modules", ".bin", "tsc"), "--noEmit", "-p", root], {
  cwd: root,
  stdout: "pipe",
  stderr: "pipe",
});
const typecheckOk = tsc.exitCode === 0;
console.log(
  typecheckOk ? "typecheck: tsc --noEmit passed" : `typecheck: tsc --noEmit FAILED\n${tsc.stdout.toString()}${tsc.stderr.toString()}`,
);

// Formatter and linter (under a second): `npm run format` fixes what the formatter reports.
const biome = Bun.spawnSync([join(root, "node_modules", ".bin", "biome"), "check", "--max-diagnostics=50", root], {
  cwd: root,
  stdout: "pipe",
  stderr: "pipe",
});
const lintOk = biome.exitCode === 0;
console.log(
  lintOk
    ? "lint: biome check passed"
    : `lint: biome check FAILED (npm run format fixes formatting)\n${biome.stdout.toString()}${biome.stderr.toString()}`,
);

// --timeout on the command line also bounds beforeAll/afterAll hooks (bunfig's [test].timeout
// only reaches tests, hooks keep bun's 5 s default): hooks here start real servers.
const proc = Bun.spawn([process.execPath, "test", "--timeout=60000", "--reporter=junit", `--reporter-outfile=${junit}`, ...args], {
  cwd: root,
  stdio: ["inherit", "inherit", "inherit"],
  env: process.env,
});
const code = await proc.exited;

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(junit)) {
  const xml = readFileSync(junit, "utf8");
  // One <testcase ...>...</testcase> or self-closing <testcase .../> per test.
  const cases = xml.match(/<testcase\b[^>]*?(?:\/>|>[\s\S]*?<\/testcase>)/g) ?? [];
  for (const c of cases) {
    if (/<(failure|error)\b/.test(c)) failed++;
    else if (/<skipped\b/.test(c)) skipped++;
    else passed++;
  }
}
if (code !== 0 && failed === 0) failed = 1; // the runner failed outside any test case (load error, crash)
for (const ok of [typecheckOk, lintOk]) {
  if (ok) passed++;
  else failed++;
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(code !== 0 || failed > 0 || passed <= 2 ? 1 : 0);
