/**
 * `npm start` (scripts/start.mjs): development mode by default, and a SIGTERM (to npm, as a
 * process manager sends it, or to start.mjs itself) stops the server: the child is gone and the
 * port is free again, and start.mjs exits with the child's status.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../helpers/ports.ts";
import { ROOT } from "../helpers/topology.ts";
import { spawnChild, type Child } from "../helpers/process.ts";
import { eventually, GiveUp } from "../helpers/eventually.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Starts `cmd` in ROOT like a user would (no NODE_ENV, no JWT_SECRET), waits until the server is ready. */
async function start(cmd: string[]): Promise<{ proc: Child["proc"]; output(): string; port: number; serverPid: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), "switchyard-start-"));
  dirs.push(dataDir);
  const port = await freePort();
  const { NODE_ENV: _nodeEnv, JWT_SECRET: _secret, ...env } = process.env;
  const child = spawnChild(cmd, { ...env, PORT: String(port), OPS_PORT: "0", DATA_DIR: dataDir, LOG_LEVEL: "info" }, ROOT, {
    inheritEnv: false,
  });
  const proc = child.proc;
  const output = child.output;
  await eventually(
    "server ready",
    async () => {
      if (proc.exitCode !== null) throw new GiveUp(`exited ${proc.exitCode}: ${output()}`);
      return (
        output().includes('"msg":"switchyard started') &&
        (await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => null))?.status === 200
      );
    },
    { timeoutMs: 60_000, intervalMs: 50 },
  );
  const started = JSON.parse(
    output()
      .split("\n")
      .find((l) => l.includes('"msg":"switchyard started')) ?? "{}",
  ) as { pid?: number; mode?: string };
  expect(started.mode).toBe("development");
  if (!started.pid) throw new Error(`no pid in the start line:\n${output()}`);
  return { proc, output, port, serverPid: started.pid };
}

async function expectStopped(serverPid: number, port: number): Promise<void> {
  await eventually("the server process to exit", () => !alive(serverPid), { timeoutMs: 15_000, intervalMs: 50 });
  expect(
    await fetch(`http://127.0.0.1:${port}/health/live`).then(
      () => "answered",
      () => "refused",
    ),
  ).toBe("refused");
}

describe("npm start", () => {
  test("SIGTERM to npm (process manager, container stop) stops the server and frees the port", async () => {
    const s = await start(["npm", "start", "--silent"]);
    try {
      expect(s.serverPid).not.toBe(s.proc.pid);
      s.proc.kill("SIGTERM");
      await expectStopped(s.serverPid, s.port);
    } finally {
      if (alive(s.serverPid)) process.kill(s.serverPid, "SIGKILL");
    }
  }, 90_000);

  test("SIGTERM to scripts/start.mjs: the server drains and stops, start.mjs exits with its status (0)", async () => {
    const s = await start(["node", "scripts/start.mjs"]);
    try {
      s.proc.kill("SIGTERM");
      expect(await s.proc.exited).toBe(0);
      expect(alive(s.serverPid)).toBe(false);
      await expectStopped(s.serverPid, s.port);
      expect(s.output()).toContain('"msg":"bye"');
    } finally {
      if (alive(s.serverPid)) process.kill(s.serverPid, "SIGKILL");
    }
  }, 90_000);
});
