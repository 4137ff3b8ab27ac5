import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { withConfigTable } from "../../scripts/config-table.ts";
import { configTable, OPTIONS, OPTION_SETS, PARTS } from "../../src/config.ts";
import { configTable as tableOf, defineOptions, int, option } from "../../src/kernel/config.ts";

// README's configuration table is what users read: it is written from the option declarations
// (scripts/config-table.ts), so a new or changed option cannot be left undocumented or stale.
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

  test("is the table the declarations generate (run `bun scripts/config-table.ts` after changing an option)", () => {
    expect(withConfigTable(readme, configTable())).toBe(readme);
  });

  for (const o of OPTIONS) {
    test(`${o.env}: a row with its default and its owner`, () => {
      const row = rows.find((r) => firstCell(r).includes(`\`${o.env}\``));
      expect(row, `README has no configuration row for ${o.env}`).toBeDefined();
      if (o.default) expect(row, `README row of ${o.env} does not show its default ${o.default}`).toContain(`\`${o.default}\``);
      expect(row).toContain(`| ${o.owner} |`);
    });
  }

  test("the check can fail: one more declared option changes the expected table", () => {
    const extra = defineOptions("example", {
      exampleMaxWidgets: option(int(1, 9), {
        env: "EXAMPLE_MAX_WIDGETS",
        flag: "--example-max-widgets",
        default: "3",
        allowed: "1-9",
        describe: "Widgets per example.",
      }),
    });
    const table = tableOf({ parts: PARTS, sets: [...OPTION_SETS, extra] });
    expect(table).toContain("| `EXAMPLE_MAX_WIDGETS` | `--example-max-widgets` | `3` | example | Widgets per example. Allowed: 1-9. |");
    expect(withConfigTable(readme, table)).not.toBe(readme);
  });
});
