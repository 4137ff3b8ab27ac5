import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:net";
import { findBinary, freePort, spawnServer, waitUntil, type ServerProcess } from "./proc.ts";

export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  url: string;
  port: number;
  dir: string;
  server: ServerProcess;
  /** Kills the server (SIGTERM), keeping its JetStream store so `restart` finds it. */
  kill(): Promise<void>;
  /** Starts it again on the same port and store. */
  restart(): Promise<void>;
  /** Kills it and removes its directory. */
  stop(): Promise<void>;
}

const tcpOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => (s.end(), resolve(true)));
    s.once("error", () => resolve(false));
  });

/** Starts `nats-server` with JetStream (store in a temp dir) on a free loopback port. */
export async function startNats(opts: { port?: number } = {}): Promise<NatsServer> {
  const bin = findBinary("nats-server", "nats-server");
  const dir = mkdtempSync(join(tmpdir(), "switchyard-nats-"));
  const port = opts.port ?? (await freePort());
  const launch = async (): Promise<ServerProcess> => {
    const server = spawnServer([bin, "-a", "127.0.0.1", "-p", String(port), "-js", "-sd", join(dir, "js"), "--http_port", "0"]);
    await waitUntil(`nats-server on ${port}`, () => tcpOpen(port), server);
    return server;
  };
  const handle: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
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
