import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, spawnServer } from "../../scripts/devservers/proc.ts";
import { rssBytes, sampleRss } from "../lib/procstat.ts";
import type { ScenarioResult } from "../lib/report.ts";
import { BASE_ENV, ROOT } from "../targets.ts";
import type { ScenarioContext } from "./index.ts";
import { loadGraphql, startProduct } from "./product.ts";

const FIRST = JSON.stringify({ query: "{ products(first: 1) { totalCount } }" });
const JWT = "bench-secret-bench-secret-bench-secret-0123456789";

/**
 * Milliseconds from spawning `binary` (MODULES=all, memory bus, SQLite in `dataDir`) to the
 * first 200 answer with data to a federated query (`products { totalCount }`, catalog
 * subgraph through the gateway). Polls every 2 ms. The process is killed afterwards.
 */
async function timeToFirstAnswer(binary: string, dataDir: string): Promise<number> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/graphql`;
  const t0 = performance.now();
  const server = spawnServer([binary], { env: { ...BASE_ENV, MODULES: "all", PORT: String(port), DATA_DIR: dataDir, JWT_SECRET: JWT } });
  try {
    for (;;) {
      if (server.proc.exitCode !== null) throw new Error(`binary exited with ${server.proc.exitCode}:\n${server.output().slice(-2000)}`);
      if (performance.now() - t0 > 60_000) throw new Error(`no answer within 60 s:\n${server.output().slice(-2000)}`);
      const ok = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: FIRST }).then(
        async (r) => r.status === 200 && ((await r.json()) as { data?: unknown }).data != null,
        () => false,
      );
      if (ok) return performance.now() - t0;
      await Bun.sleep(2);
    }
  } finally {
    await server.kill();
  }
}

/** Builds the single binary with `npm run build`'s script into `outfile` (SWITCHYARD_OUTFILE). */
async function build(outfile: string): Promise<void> {
  const proc = Bun.spawn([process.execPath, join(ROOT, "scripts/build.ts")], {
    cwd: ROOT,
    env: { ...process.env, SWITCHYARD_OUTFILE: outfile },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0 || !existsSync(outfile)) throw new Error(`build failed (exit ${code}):\n${out}\n${err}`);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/**
 * The `coldstart` scenario: builds the compiled binary (or uses `BENCH_BINARY`), measures the
 * time to first answer on an empty data directory (migrations + demo seed) and on an existing
 * one (median of 3 restarts), then RSS: idle (2 s after start) and peak under a 50-connection
 * catalog query load.
 */
export async function coldstartScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-cold-"));
  try {
    let binary = process.env["BENCH_BINARY"];
    if (!binary) {
      binary = join(dir, "switchyard");
      const t = performance.now();
      await build(binary);
      ctx.log(`  coldstart: binary built in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    const dataDir = join(dir, "data");
    const first = await timeToFirstAnswer(binary, dataDir);
    const restarts: number[] = [];
    for (let i = 0; i < 3; i++) restarts.push(await timeToFirstAnswer(binary, dataDir));
    const p = await startProduct({ cmd: [binary], dataDir, serverCpus: ctx.serverCpus });
    try {
      await Bun.sleep(2000);
      const idle = rssBytes(p.server.proc.pid);
      const rss = sampleRss(() => [p.server.proc.pid]);
      const body = JSON.stringify({
        query: "{ products(first: 20) { totalCount edges { node { id name price { amount currency } category { name } } } } }",
      });
      const r = await loadGraphql({
        url: p.url,
        bodies: [body],
        mustContain: '"totalCount":',
        connections: 50,
        durationS: ctx.durationS,
        loadCpus: ctx.loadCpus,
        what: "catalog load",
      });
      const loaded = rss.stop();
      const MB = 1024 * 1024;
      return {
        name: "coldstart",
        describe: COLDSTART_DESCRIBE,
        rows: [
          { metric: "first answer, empty data dir (migrate + seed)", value: first, unit: "ms", goal: "≤ 300 ms", met: first <= 300 },
          {
            metric: "first answer, existing data (median of 3)",
            value: median(restarts),
            unit: "ms",
            goal: "≤ 300 ms",
            met: median(restarts) <= 300,
          },
          { metric: "idle RSS", value: idle / MB, unit: "MB", goal: "≤ 150 MB", met: idle / MB <= 150 },
          { metric: "peak RSS under load (50 connections)", value: loaded / MB, unit: "MB" },
          { metric: "catalog query/s under that load", value: r.rps, unit: "req/s" },
        ],
      };
    } finally {
      await p.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const COLDSTART_DESCRIBE =
  "The compiled binary (`npm run build`'s script, SWITCHYARD_OUTFILE to a temp path; or BENCH_BINARY), MODULES=all on the memory bus and SQLite: time from spawn to the first answer of a federated query, RSS idle and under a 50-connection load of `products(first: 20)` with category names.";
