#!/usr/bin/env node
// `npm test` entry, in plain Node so it works before Bun is installed: makes sure the
// project's dependencies (Bun comes from the `bun` npm package) and the Debian packages of the
// split-mode tests (nats-server, etcd-server, postgresql) are installed, then hands over to
// scripts/test.ts, which runs `bun test` and prints "N passed, N failed".
import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureSystemDeps } from "./system-deps.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bun = join(root, "node_modules", ".bin", "bun");
if (!existsSync(bun)) {
  console.log("test: node_modules missing, running npm install first");
  const r = spawnSync("npm", ["install", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
ensureSystemDeps();
const r = spawnSync(bun, [join(root, "scripts", "test.ts"), ...process.argv.slice(2)], { cwd: root, stdio: "inherit" });
process.exit(r.status ?? 1);
