import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { OPTIONS } from "../../src/kernel/config.ts";

// README's configuration table is what users read: every option must have a row there naming
// its variable in the first cell and, where it has one, its default (a limit with an
// undocumented or stale default is a defect, issue 10).
const readme = readFileSync(join(import.meta.dir, "..", "..", "README.md"), "utf8");
const start = readme.indexOf("\n## Configuration");
const section = readme.slice(start, readme.indexOf("\n## ", start + 5));
const rows = section.split("\n").filter((l) => l.startsWith("| `"));
const firstCell = (row: string): string => row.split("|")[1] ?? "";

describe("README configuration table", () => {
  test("has the section", () => {
    expect(start).toBeGreaterThan(0);
    expect(rows.length).toBeGreaterThan(40);
  });
  for (const o of OPTIONS) {
    test(`${o.env}: a row with its default`, () => {
      const row = rows.find((r) => firstCell(r).includes(`\`${o.env}\``));
      expect(row, `README has no configuration row for ${o.env}`).toBeDefined();
      if (o.default) expect(row, `README row of ${o.env} does not show its default ${o.default}`).toContain(`\`${o.default}\``);
    });
  }
});
