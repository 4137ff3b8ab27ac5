import type { Subprocess } from "bun";
import { eventually, GiveUp } from "./eventually.ts";

/** A child process of the system under test, with its output captured for failure reports. */
export interface Child {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Everything written to stdout+stderr so far. */
  output(): string;
  /** Resolves once stdout and stderr are read to their end (after the exit: the output is complete). */
  ended(): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

/** How {@link spawnChild} starts a process. */
export interface SpawnOptions {
  /** false: the child gets `env` only (nothing of this process's environment, NODE_ENV included); default true. */
  inheritEnv?: boolean;
  /** A process group of its own (signal it with `process.kill(-pid, ...)`, like a terminal's foreground job). */
  detached?: boolean;
}

/** Spawns `cmd` with `env` (added to the current environment unless `opts.inheritEnv` is false), capturing output. */
export function spawnChild(cmd: string[], env: Record<string, string | undefined>, cwd?: string, opts: SpawnOptions = {}): Child {
  const proc = Bun.spawn(cmd, {
    env: opts.inheritEnv === false ? env : { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
    ...(cwd ? { cwd } : {}),
    ...(opts.detached ? { detached: true } : {}),
  });
  let out = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of stream) out += dec.decode(chunk, { stream: true });
  };
  const pumped = Promise.all([pump(proc.stdout), pump(proc.stderr)]).then(
    () => {},
    () => {},
  );
  return {
    proc,
    output: () => out,
    ended: () => pumped,
    async stop(graceMs = 5000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      const code = await proc.exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Waits until `GET url` answers 200, failing early (with the child's output) if the child exits. */
export async function waitHttpOk(child: Child, url: string, timeoutMs = 30_000): Promise<void> {
  await eventually(
    `${url} to answer 200`,
    async () => {
      if (child.proc.exitCode !== null) throw new GiveUp(`process exited with ${child.proc.exitCode}`);
      const res = await fetch(url).catch(() => null);
      return res?.status === 200;
    },
    { timeoutMs, intervalMs: 50 },
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}\n--- process output ---\n${child.output().slice(-4000)}`);
  });
}
