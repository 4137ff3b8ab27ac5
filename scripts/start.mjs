#!/usr/bin/env node
// `npm start`: runs the whole system (MODULES=all, memory bus, SQLite under ./data) with the
// project's Bun. Plain Node so that it gives a clear message when dependencies are missing.
import { existsSync } from "node:fs";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bun = join(root, "node_modules", ".bin", "bun");
if (!existsSync(bun)) {
  console.error("start: Bun is not installed; run `npm install` first");
  process.exit(1);
}
const child = spawn(bun, [join(root, "src", "main.ts"), ...process.argv.slice(2)], { stdio: "inherit" });
// Forward Ctrl-C / SIGTERM so the kernel drains and stops cleanly.
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
