/**
 * `npm run start:split`: the split deployment on this machine — nats-server (JetStream),
 * etcd, PostgreSQL and five processes of the binary (gateway, account, catalog, order, payment).
 * Ctrl-C stops all of it. Needs the Debian packages nats-server, etcd-server, postgresql.
 */
import { startSplit } from "./split-topology.ts";

const port = Number(process.env["PORT"] ?? 4000);
const colors: Record<string, string> = { gateway: "\x1b[36m", account: "\x1b[33m", catalog: "\x1b[32m", order: "\x1b[35m", payment: "\x1b[34m" };
console.log("starting nats-server, etcd, PostgreSQL and 4 processes...");
const topology = await startSplit({
  port,
  env: { LOG_LEVEL: process.env["LOG_LEVEL"] ?? "info" },
  onOutput: (name, line) => {
    const c = colors[name.split("-")[0] ?? ""] ?? "";
    process.stdout.write(`${c}${name.padEnd(8)}\x1b[0m ${line}\n`);
  },
});
console.log(`
Switchyard split topology is up:
  GraphiQL   ${topology.graphqlUrl}
  NATS       ${topology.nats.url}   (JetStream on)
  etcd       ${topology.etcd.url}
  PostgreSQL ${topology.postgres.baseUrl}/{account,catalog,order,payment}
Ctrl-C stops everything.`);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  console.log("stopping...");
  await topology.stop();
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
await new Promise(() => {});
