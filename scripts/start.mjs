#!/usr/bin/env node
// `npm start`: runs the whole system (MODULES=all, memory bus, SQLite under ./data) with the
// project's Bun, in development mode (NODE_ENV=development unless set: GraphiQL, introspection,
// a generated JWT secret). Plain Node so that it gives a clear message when dependencies are missing.
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
const env = { ...process.env, NODE_ENV: process.env.NODE_ENV || "development" };
const child = spawn(bun, [join(root, "src", "main.ts"), ...process.argv.slice(2)], { stdio: "inherit", env });
// Forward Ctrl-C / SIGTERM so the kernel drains and stops cleanly; we exit when the child does.
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig === "SIGHUP" ? "SIGTERM" : sig));
// `npm start` runs us under `sh -c`: a SIGTERM to npm reaches that shell, which dies without
// passing it on, and we are orphaned (re-parented). Treat losing our parent as a SIGTERM, so the
// server never outlives `npm start` holding its port.
const parent = process.ppid;
const watch = setInterval(() => {
  if (process.ppid !== parent) child.kill("SIGTERM");
}, 250);
watch.unref();
child.on("exit", (code, signal) => {
  clearInterval(watch);
  if (code !== null) process.exit(code);
  // Killed by a signal: end the same way (exit status 128 + signal), so callers see why.
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.removeAllListeners(sig);
  process.kill(process.pid, signal ?? "SIGTERM");
});
