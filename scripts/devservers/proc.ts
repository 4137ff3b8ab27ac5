import type { Subprocess } from "bun";
import { createServer } from "node:net";
import { rmSync } from "node:fs";

/** A spawned server process with its captured output. */
export interface ServerProcess {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  output(): string;
  /** SIGTERM (SIGKILL after `graceMs`), resolves when the process exited. */
  kill(graceMs?: number): Promise<void>;
}

const exitCleanups = new Set<() => void>();
let exitHookInstalled = false;

/**
 * Registers a synchronous last-resort cleanup run when this process exits without having
 * stopped its dev servers (a crashed test file, an uncaught error): servers are spawned
 * detached from our lifetime, so without this they would outlive us. Returns the unregister.
 */
export function onExitCleanup(fn: () => void): () => void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on("exit", () => {
      for (const f of exitCleanups) {
        try {
          f();
        } catch {
          // best effort: the process is going away
        }
      }
    });
  }
  exitCleanups.add(fn);
  return () => exitCleanups.delete(fn);
}

let detachAll = false;

/**
 * From now on, spawn servers in their own process group (session), so that Ctrl-C in the
 * terminal (SIGINT to the foreground process group) reaches only this process, which then stops
 * them in its own order (`npm run start:split`: the binary's processes first, then NATS, etcd and
 * PostgreSQL). Call it only where a SIGINT/SIGTERM handler stops the servers.
 */
export function detachServersFromTerminal(): void {
  detachAll = true;
}

/** Spawns a server, capturing stdout+stderr. SIGKILLed when this process exits first. */
export function spawnServer(
  cmd: string[],
  opts: { env?: Record<string, string>; cwd?: string; onLine?: (line: string) => void } = {},
): ServerProcess {
  const proc = Bun.spawn(cmd, {
    env: { ...process.env, ...opts.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(detachAll ? { detached: true } : {}),
  });
  let out = "";
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    let partial = "";
    for await (const c of s) {
      const text = dec.decode(c, { stream: true });
      out = (out + text).slice(-64_000);
      if (opts.onLine) {
        const lines = (partial + text).split("\n");
        partial = lines.pop() ?? "";
        for (const l of lines) opts.onLine(l);
      }
    }
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  const unregister = onExitCleanup(() => proc.kill("SIGKILL"));
  void proc.exited.then(unregister);
  return {
    proc,
    output: () => out,
    async kill(graceMs = 5000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await proc.exited;
      clearTimeout(t);
    },
  };
}

/** Ports {@link freePort} handed out by this process (never handed out twice). */
const handedOut = new Set<number>();

/**
 * A TCP port that was free on 127.0.0.1 a moment ago: a random port in 20000-32767 that a
 * test bind accepted. The range lies below Linux's ephemeral range (32768-60999), so a port
 * picked here is never meanwhile taken by an outgoing connection's local port or by a server
 * that asked for port 0 (each process here opens many of both), which an OS-assigned port 0
 * would risk between this check and the real bind.
 * @throws Error when 200 random ports in the range were all taken.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_768);
    if (handedOut.has(port)) continue;
    if (await canBind(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("no free TCP port found in 20000-32767 on 127.0.0.1");
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/** Polls until `fn` returns true; throws after `timeoutMs` (ms) with `what` and the server output. */
export async function waitUntil(
  what: string,
  fn: () => Promise<boolean> | boolean,
  server: ServerProcess,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.proc.exitCode !== null)
      throw new Error(`${what}: process exited with ${server.proc.exitCode}\n${server.output().slice(-3000)}`);
    try {
      if (await fn()) return;
    } catch {
      // not up yet
    }
    await Bun.sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${server.output().slice(-3000)}`);
}

/** Resolves `name` on PATH (or known sbin dirs); throws with the Debian package to install. */
export function findBinary(name: string, debianPackage: string): string {
  const found = Bun.which(name, { PATH: `${process.env["PATH"] ?? ""}:/usr/sbin:/usr/local/sbin:/sbin` });
  if (!found) throw new Error(`${name} not found: install the Debian package ${debianPackage} (apt-get install -y ${debianPackage})`);
  return found;
}

/**
 * A dev server that can be killed and relaunched on the same ports and data (to test outages).
 * Shape shared by nats-server and etcd.
 */
export interface RestartableServer {
  /** Client URL (`nats://127.0.0.1:<port>`, `http://127.0.0.1:<port>`). */
  url: string;
  port: number;
  /** Temp dir holding the server's data; removed by `stop`. */
  dir: string;
  /** The running process (replaced by `restart`). */
  server: ServerProcess;
  /** Stops the process (SIGTERM), keeping its data so `restart` finds it. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and data. */
  restart(): Promise<void>;
  /** Kills it and removes its directory. */
  stop(): Promise<void>;
}

/** Wraps a `launch` function (spawn + wait until serving) into a {@link RestartableServer}. */
export async function restartableServer(
  url: string,
  port: number,
  dir: string,
  launch: () => Promise<ServerProcess>,
): Promise<RestartableServer> {
  const handle: RestartableServer = {
    url,
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
