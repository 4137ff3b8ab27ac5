import { type DeclaredOption, declaredOptions } from "./declared.ts";
import { moduleDbEnv } from "./load.ts";
import type { OptionSet, ParseContext } from "./option.ts";
import { kernelOptions } from "./options.ts";

const allowedOf = (o: DeclaredOption, ctx: ParseContext): string =>
  typeof o.meta.allowed === "string" ? o.meta.allowed : o.meta.allowed(ctx);
const modulesOf = (ctx: ParseContext): string[] => ctx.parts.filter((p) => p !== "gateway");

/** The `--help` text: usage plus one entry per option (flag, variable, default, description, what is allowed), by owner. */
export function helpText(ctx: ParseContext & { readonly sets?: readonly OptionSet[] }): string {
  const sets = [kernelOptions, ...(ctx.sets ?? [])];
  const rows: string[] = [];
  let owner = "";
  for (const o of declaredOptions(sets)) {
    if (o.owner !== owner) rows.push("", `${(owner = o.owner)}:`);
    const def = o.meta.default === undefined || o.meta.default === "" ? "(unset)" : o.meta.default;
    rows.push(
      `  ${(o.meta.flag ?? "").padEnd(22)} ${o.meta.env.padEnd(20)} default ${def}\n      ${o.meta.describe} Allowed: ${allowedOf(o, ctx)}.`,
    );
  }
  for (const part of modulesOf(ctx)) {
    rows.push(
      `  ${"".padEnd(22)} ${moduleDbEnv(part).padEnd(20)} default DATABASE_URL\n      Database of the ${part} module only. Allowed: sqlite:<file> | postgres://...`,
    );
  }
  return [
    "switchyard: federated GraphQL commerce API (modular monolith on a NATS-shaped bus)",
    "",
    "Usage: switchyard [options]     (every option can also be set by its environment variable)",
    "",
    "Options:",
    "  --help, -h             show this help",
    "  --probe [url]          exit 0 if url (default http://127.0.0.1:$PORT/health/live) answers 2xx",
    "  --migrate              apply the selected modules' database migrations (and first-start seed), then exit",
    ...rows,
    "",
  ].join("\n");
}

/** A README table cell: pipes escaped, so a description cannot break the table. */
const cell = (text: string): string => text.replaceAll("|", "\\|");

/**
 * README's configuration table (Markdown), one row per option in `--help` order, from the same
 * declarations as `--help`: variable, flag, default, owner, what is allowed and the description.
 */
export function configTable(ctx: ParseContext & { readonly sets?: readonly OptionSet[] }): string {
  const sets = [kernelOptions, ...(ctx.sets ?? [])];
  const rows = ["| Variable | Flag | Default | Used by | Meaning |", "|---|---|---|---|---|"];
  for (const o of declaredOptions(sets)) {
    const def = o.meta.default === undefined || o.meta.default === "" ? "unset" : `\`${o.meta.default}\``;
    const flag = o.meta.flag === undefined ? "" : `\`${o.meta.flag}\``;
    rows.push(
      `| \`${o.meta.env}\` | ${flag} | ${def} | ${o.owners.join(", ")} | ${cell(o.meta.describe)} Allowed: ${cell(allowedOf(o, ctx))}. |`,
    );
  }
  const dbVars = modulesOf(ctx)
    .map((m) => `\`${moduleDbEnv(m)}\``)
    .join(", ");
  if (dbVars)
    rows.push(`| ${dbVars} | | \`DATABASE_URL\` | kernel | One module's database only. Allowed: sqlite:<file> \\| postgres://... |`);
  return rows.join("\n");
}
