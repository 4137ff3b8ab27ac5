import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findBinary, freePort, spawnServer, waitUntil, type ServerProcess } from "./proc.ts";

export interface EtcdServer {
  /** `http://127.0.0.1:<port>` (client URL) */
  url: string;
  port: number;
  dir: string;
  server: ServerProcess;
  /** Stops the process keeping its data (to test an etcd outage). */
  kill(): Promise<void>;
  /** Starts it again on the same ports and data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a single-member etcd cluster on free loopback ports with data in a temp dir. */
export async function startEtcd(): Promise<EtcdServer> {
  const bin = findBinary("etcd", "etcd-server");
  const dir = mkdtempSync(join(tmpdir(), "switchyard-etcd-"));
  const port = await freePort();
  const peer = await freePort();
  const client = `http://127.0.0.1:${port}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const launch = async (): Promise<ServerProcess> => {
    const server = spawnServer([
      bin,
      "--name", "default",
      "--data-dir", join(dir, "data"),
      "--listen-client-urls", client,
      "--advertise-client-urls", client,
      "--listen-peer-urls", peerUrl,
      "--initial-advertise-peer-urls", peerUrl,
      "--initial-cluster", `default=${peerUrl}`,
      "--log-level", "error",
    ], { env: { ETCD_UNSUPPORTED_ARCH: process.arch === "x64" ? "" : process.arch } });
    await waitUntil(`etcd on ${port}`, async () => (await fetch(`${client}/health`)).ok, server);
    return server;
  };
  const handle: EtcdServer = {
    url: client,
    port,
    dir,
    server: await launch(),
    async kill() {
      await handle.server.kill();
    },
    async restart() {
      await handle.server.kill();
      handle.server = await launch();
    },
    async stop() {
      await handle.server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}
