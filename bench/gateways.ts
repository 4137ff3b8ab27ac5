import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchQuery, expectedResponse } from "./fixture/data.ts";
import { cpuMs, pin, processTree, sampleRss } from "./lib/procstat.ts";
import { checkArgs, findWrk, firstDifference, runWrk, verifyTarget, type WrkResult } from "./lib/wrk.ts";
import { TARGETS, createSharedDeps, type RunningTarget, type TargetName } from "./targets.ts";

/** Settings of a gateway benchmark run (see bench/README.md for the environment variables). */
export interface GatewayBenchOptions {
  targets: readonly TargetName[];
  /** Measured window of one round, s (`BENCH_DURATION_S`). */
  durationS: number;
  /** Warm-up per target before the rounds, s (`BENCH_WARMUP_S`; 0 = none). */
  warmupS: number;
  /** Interleaved rounds (`BENCH_ROUNDS`). */
  rounds: number;
  /** Concurrent connections of the throughput rounds (`BENCH_CONNECTIONS`, 50). */
  connections: number;
  /** Window of the single-connection latency run, s (`BENCH_SINGLE_S`; 0 = skip). */
  singleS: number;
  /** CPU list of every server process (taskset), undefined = not pinned. */
  serverCpus: string | undefined;
  /** CPU list of wrk, undefined = not pinned. */
  loadCpus: string | undefined;
  /** Requests of the correctness check before load (`BENCH_VERIFY_N`, 20). */
  verifyCount: number;
  /** Progress lines. */
  log(line: string): void;
}

/** What one target measured over a run. */
export interface TargetResult {
  name: TargetName;
  describe: string;
  /** Every response of every phase was HTTP 200 and byte-identical to the verified body. */
  correct: boolean;
  /** Why it is not correct (first problem). */
  problem: string | undefined;
  rounds: WrkResult[];
  /** Median requests/s over the rounds; 0 when not correct. */
  rps: number;
  rpsMin: number;
  rpsMax: number;
  /** Medians over rounds, ms. */
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** CPU (user+system) of every server process of the target (gateway, subgraphs, nats-server) per request, ms. */
  cpuMsPerReq: number;
  /** CPU of the gateway process alone per request, ms. */
  gatewayCpuMsPerReq: number;
  /** Peak summed RSS of every server process of the target during the rounds, MB. */
  peakRssMb: number;
  /** Peak RSS of the gateway process alone, MB. */
  gatewayPeakRssMb: number;
  /** Single-connection run, if any. */
  single: WrkResult | undefined;
  /** Responses checked by wrk over all phases. */
  checked: number;
}

const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const MB = 1024 * 1024;

/** The first difference between the mismatching body wrk saved and the expected response. */
function describeMismatch(file: string, expected: unknown): string {
  try {
    const body = readFileSync(file, "utf8");
    try {
      return `first: ${firstDifference(JSON.parse(body), expected) ?? "same JSON, different bytes"}`;
    } catch {
      return `first is not JSON: ${body.slice(0, 120)}`;
    }
  } catch {
    return "first one not saved";
  }
}

/**
 * Runs the gateway benchmark: starts every target (and the HTTP subgraphs / nats-server they
 * need), checks each against expected-response.json, warms each up, then runs `rounds`
 * interleaved rounds (the order rotates each round) of `durationS` with `connections`
 * connections, then a single-connection run. Every response of every phase is checked.
 * Targets are stopped at the end, also on error.
 * @throws WrkMissingError when wrk is not installed.
 */
export async function runGatewayBench(o: GatewayBenchOptions): Promise<TargetResult[]> {
  findWrk();
  const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-"));
  const pinAll = (pids: number[]): void => {
    if (o.serverCpus !== undefined) pin(processTree(pids), o.serverCpus);
  };
  const deps = createSharedDeps(dir, pinAll);
  const bodyFile = join(dir, "request.json");
  writeFileSync(bodyFile, JSON.stringify({ query: benchQuery(), operationName: "TestQuery" }));
  const requestBody = JSON.stringify({ query: benchQuery(), operationName: "TestQuery" });
  const expected: unknown = JSON.parse(expectedResponse());

  interface Live {
    name: TargetName;
    running: RunningTarget | undefined;
    canonicalFile: string;
    problem: string | undefined;
    rounds: WrkResult[];
    cpuAll: number;
    cpuGateway: number;
    requests: number;
    peakAll: number;
    peakGateway: number;
    single: WrkResult | undefined;
    checked: number;
  }
  const live: Live[] = o.targets.map((name) => ({
    name,
    running: undefined,
    canonicalFile: join(dir, `${name}.canonical`),
    problem: undefined,
    rounds: [],
    cpuAll: 0,
    cpuGateway: 0,
    requests: 0,
    peakAll: 0,
    peakGateway: 0,
    single: undefined,
    checked: 0,
  }));
  const check = (t: Live, phase: string, r: WrkResult): void => {
    t.checked += r.checked;
    if (t.problem) return;
    if (r.wrong > 0)
      t.problem = `${phase}: ${r.wrong} of ${r.checked} responses differ from the verified body (${describeMismatch(`${t.canonicalFile}.mismatch`, expected)})`;
    else if (r.badStatus > 0) t.problem = `${phase}: ${r.badStatus} non-200 responses`;
    else if (r.socketErrors > 0) t.problem = `${phase}: ${r.socketErrors} socket errors/timeouts`;
    else if (r.requests === 0 && phase !== "warm-up")
      t.problem = `${phase}: no request completed within the window (raise BENCH_DURATION_S)`;
  };
  const wrk = (t: Live, connections: number, durationS: number, tag: string): Promise<WrkResult> =>
    runWrk({
      url: (t.running as RunningTarget).url,
      connections,
      durationS,
      scriptArgs: checkArgs(t.canonicalFile, bodyFile, `${t.name}-${tag}`),
      cpus: o.loadCpus,
    });

  try {
    for (const t of live) {
      o.log(`start ${t.name}: ${TARGETS[t.name].describe}`);
      try {
        t.running = await TARGETS[t.name].start(deps);
        pinAll([...t.running.pids, ...deps.pidsFor(t.name)]);
        const v = await verifyTarget(t.running.url, requestBody, expected, o.verifyCount);
        if (!v.ok || v.canonical === undefined) t.problem = `verification: ${v.problem}`;
        else writeFileSync(t.canonicalFile, v.canonical);
      } catch (err) {
        t.problem = `start: ${(err as Error).message}`;
      }
      if (t.problem) o.log(`  ${t.name} FAILED: ${t.problem}`);
    }
    const ok = (): Live[] => live.filter((t) => !t.problem && t.running);
    if (o.warmupS > 0) {
      for (const t of ok()) {
        o.log(`warm-up ${t.name} (${o.warmupS} s)`);
        check(t, "warm-up", await wrk(t, o.connections, o.warmupS, "warmup"));
      }
    }
    for (let round = 0; round < o.rounds; round++) {
      const order = ok();
      const rotated = [...order.slice(round % Math.max(order.length, 1)), ...order.slice(0, round % Math.max(order.length, 1))];
      for (const t of rotated) {
        const run = t.running as RunningTarget;
        const all = processTree([...run.pids, ...deps.pidsFor(t.name)]);
        const gw = processTree([run.gatewayPid]);
        const rssAll = sampleRss(() => all);
        const rssGw = sampleRss(() => gw);
        const c0 = cpuMs(all);
        const g0 = cpuMs(gw);
        const r = await wrk(t, o.connections, o.durationS, `r${round}`);
        t.cpuAll += cpuMs(all) - c0;
        t.cpuGateway += cpuMs(gw) - g0;
        t.peakAll = Math.max(t.peakAll, rssAll.stop());
        t.peakGateway = Math.max(t.peakGateway, rssGw.stop());
        t.requests += r.requests;
        t.rounds.push(r);
        check(t, `round ${round + 1}`, r);
        o.log(
          `round ${round + 1}/${o.rounds} ${t.name}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms${t.problem ? ` WRONG: ${t.problem}` : ""}`,
        );
      }
    }
    if (o.singleS > 0) {
      for (const t of ok()) {
        const r = await wrk(t, 1, o.singleS, "single");
        t.single = r;
        check(t, "single connection", r);
        o.log(`single connection ${t.name}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms`);
      }
    }
  } finally {
    for (const t of live) await t.running?.stop().catch(() => {});
    await deps.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }

  return live.map((t): TargetResult => {
    const correct = !t.problem && t.rounds.length > 0;
    return {
      name: t.name,
      describe: TARGETS[t.name].describe,
      correct,
      problem: t.problem ?? (t.rounds.length === 0 ? "no measured round" : undefined),
      rounds: t.rounds,
      rps: correct ? median(t.rounds.map((r) => r.rps)) : 0,
      rpsMin: t.rounds.length ? Math.min(...t.rounds.map((r) => r.rps)) : 0,
      rpsMax: t.rounds.length ? Math.max(...t.rounds.map((r) => r.rps)) : 0,
      p50Ms: median(t.rounds.map((r) => r.p50Ms)),
      p95Ms: median(t.rounds.map((r) => r.p95Ms)),
      p99Ms: median(t.rounds.map((r) => r.p99Ms)),
      cpuMsPerReq: t.requests ? t.cpuAll / t.requests : 0,
      gatewayCpuMsPerReq: t.requests ? t.cpuGateway / t.requests : 0,
      peakRssMb: t.peakAll / MB,
      gatewayPeakRssMb: t.peakGateway / MB,
      single: t.single,
      checked: t.checked,
    };
  });
}
