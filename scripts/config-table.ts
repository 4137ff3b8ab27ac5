/**
 * Writes README's "## Configuration" table from the option declarations (the same ones
 * `--help` prints): `bun scripts/config-table.ts`. tests/kernel/config-readme.test.ts fails
 * when the committed table differs from what this writes.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { configTable } from "../src/config.ts";

/** README with its configuration table replaced by `table`; the text around it is kept. */
export function withConfigTable(readme: string, table: string): string {
  const start = readme.indexOf("\n## Configuration");
  if (start === -1) throw new Error('README has no "## Configuration" section');
  const end = readme.indexOf("\n## ", start + 5);
  const section = readme.slice(start, end === -1 ? undefined : end);
  const lines = section.split("\n");
  const first = lines.findIndex((l) => l.startsWith("| Variable"));
  if (first === -1) throw new Error("README's configuration section has no table");
  let last = first;
  while (lines[last + 1]?.startsWith("|")) last++;
  lines.splice(first, last - first + 1, table);
  return readme.slice(0, start) + lines.join("\n") + (end === -1 ? "" : readme.slice(end));
}

if (import.meta.main) {
  const path = join(import.meta.dir, "..", "README.md");
  const before = readFileSync(path, "utf8");
  const after = withConfigTable(before, configTable());
  if (after === before) console.log("README configuration table is up to date");
  else {
    writeFileSync(path, after);
    console.log("README configuration table rewritten");
  }
}
