import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findBinary, freePort, spawnServer, waitUntil, type ServerProcess, restartableServer, type RestartableServer } from "./proc.ts";

/** A local single-member etcd for tests and `start:split` (see {@link RestartableServer}). */
export type EtcdServer = RestartableServer;

/** Starts a single-member etcd cluster on free loopback ports with data in a temp dir. */
export async function startEtcd(): Promise<EtcdServer> {
  const bin = findBinary("etcd", "etcd-server");
  const dir = mkdtempSync(join(tmpdir(), "switchyard-etcd-"));
  const port = await freePort();
  const peer = await freePort();
  const client = `http://127.0.0.1:${port}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const launch = async (): Promise<ServerProcess> => {
    const server = spawnServer(
      [
        bin,
        "--name",
        "default",
        "--data-dir",
        join(dir, "data"),
        "--listen-client-urls",
        client,
        "--advertise-client-urls",
        client,
        "--listen-peer-urls",
        peerUrl,
        "--initial-advertise-peer-urls",
        peerUrl,
        "--initial-cluster",
        `default=${peerUrl}`,
        "--log-level",
        "error",
      ],
      { env: { ETCD_UNSUPPORTED_ARCH: process.arch === "x64" ? "" : process.arch } },
    );
    await waitUntil(`etcd on ${port}`, async () => (await fetch(`${client}/health`)).ok, server);
    return server;
  };
  return restartableServer(client, port, dir, launch);
}
