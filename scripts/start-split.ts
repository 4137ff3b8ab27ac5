/**
 * `npm run start:split`: the split deployment on this machine — nats-server (JetStream),
 * etcd, PostgreSQL and five processes of the binary (gateway, account, catalog, order, payment).
 * Ctrl-C stops all of it, in order: the binary's processes first, then NATS, etcd and
 * PostgreSQL (every server runs in its own process group, so the terminal's SIGINT reaches only
 * this script). Needs the Debian packages nats-server, etcd-server, postgresql.
 *
 * On a throwaway PostgreSQL (gone at Ctrl-C) unless `DATABASE_URL` names one (`postgres://`):
 * then every module runs on its schema there, e.g. the data `npm run data -- copy --from ./data
 * --to <url>` moved from the monolith (docs/switching-modes.md). `JWT_SECRET`, when set, is the
 * secret every process shares (the monolith's, so that its tokens stay valid).
 */
import { detachServersFromTerminal } from "./devservers/proc.ts";
import { opsUrlOf, splitProcessCount, startSplit } from "./split-topology.ts";

const port = Number(process.env["PORT"] ?? 4000);
const databaseUrl = process.env["DATABASE_URL"] || undefined;
if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
  console.error("start:split: DATABASE_URL must be a postgres:// URL (the split processes share one PostgreSQL database, a schema each)");
  process.exit(2);
}
const jwtSecret = process.env["JWT_SECRET"] || undefined;
const colors: Record<string, string> = {
  gateway: "\x1b[36m",
  account: "\x1b[33m",
  catalog: "\x1b[32m",
  order: "\x1b[35m",
  payment: "\x1b[34m",
};
detachServersFromTerminal();
let stopping = false;
// Until the topology is up, an exit (signal) SIGKILLs what was started (devservers/proc.ts).
let stopTopology: (() => Promise<void>) | undefined;
let processCount = splitProcessCount();
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: stopping the ${processCount} processes, then nats-server, etcd${databaseUrl ? "" : " and PostgreSQL"}...`);
  await stopTopology?.();
  console.log("stopped");
  process.exit(0);
};
// Installed before the start, so a Ctrl-C during it still stops what was started.
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => void stop(sig));
console.log(
  databaseUrl
    ? `starting nats-server, etcd and ${splitProcessCount()} processes on DATABASE_URL...`
    : `starting nats-server, etcd, PostgreSQL and ${splitProcessCount()} processes...`,
);
const topology = await startSplit({
  port,
  ...(databaseUrl ? { databaseUrl } : {}),
  // Local development: GraphiQL, introspection and the rest of NODE_ENV=development, unless set.
  env: {
    LOG_LEVEL: process.env["LOG_LEVEL"] ?? "info",
    NODE_ENV: process.env["NODE_ENV"] || "development",
    ...(jwtSecret ? { JWT_SECRET: jwtSecret } : {}),
  },
  onOutput: (name, line) => {
    const c = colors[name.split("-")[0] ?? ""] ?? "";
    process.stdout.write(`${c}${name.padEnd(8)}\x1b[0m ${line}\n`);
  },
});
stopTopology = () => topology.stop();
processCount = topology.processes.length;
console.log(`
Switchyard split topology is up (${topology.processes.length} processes):
  GraphiQL   ${topology.graphqlUrl}
  Ops        ${topology.processes.map((p) => `${p.name} ${opsUrlOf(p)}`).join(", ")}   (/metrics; /admin/* with an admin token)
  NATS       ${topology.nats.url}   (JetStream on)
  etcd       ${topology.etcd.url}
  PostgreSQL ${topology.postgres ? `${topology.postgres.baseUrl}/{account,catalog,order,payment} (throwaway)` : `DATABASE_URL, a schema per module`}
Ctrl-C stops everything.`);
console.log(`  NATS users: one per part, permissions generated from the contracts (npm run nats-permissions);
  operator user ${topology.natsOps.user} / ${topology.natsOps.pass}; BUS_SIGNING_KEY set for this run`);
await new Promise(() => {});
