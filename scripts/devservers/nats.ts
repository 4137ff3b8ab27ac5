import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:net";
import { findBinary, freePort, spawnServer, waitUntil, type ServerProcess, restartableServer, type RestartableServer } from "./proc.ts";

/** A local nats-server (JetStream on) for tests and `start:split` (see {@link RestartableServer}). */
export type NatsServer = RestartableServer;

const tcpOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => (s.end(), resolve(true)));
    s.once("error", () => resolve(false));
  });

/**
 * Starts `nats-server` with JetStream (store in a temp dir) on a free loopback port.
 * `config`: text of a configuration file (e.g. the `authorization` block of per-part users from
 * `../bus/nats-permissions.ts`), written into the temp dir and passed with `-c`; the command-line
 * flags (address, port, JetStream) still apply. Kept across `restart`.
 */
export async function startNats(opts: { port?: number; config?: string } = {}): Promise<NatsServer> {
  const bin = findBinary("nats-server", "nats-server");
  const dir = mkdtempSync(join(tmpdir(), "switchyard-nats-"));
  const port = opts.port ?? (await freePort());
  const configArgs: string[] = [];
  if (opts.config !== undefined) {
    const file = join(dir, "nats.conf");
    writeFileSync(file, opts.config, { mode: 0o600 });
    configArgs.push("-c", file);
  }
  const launch = async (): Promise<ServerProcess> => {
    const server = spawnServer([
      bin,
      ...configArgs,
      "-a",
      "127.0.0.1",
      "-p",
      String(port),
      "-js",
      "-sd",
      join(dir, "js"),
      "--http_port",
      "0",
    ]);
    await waitUntil(`nats-server on ${port}`, () => tcpOpen(port), server);
    return server;
  };
  return restartableServer(`nats://127.0.0.1:${port}`, port, dir, launch);
}
