import type { TargetResult } from "../gateways.ts";

/** One measured value of a scenario, with the target when there is one. */
export interface ScenarioRow {
  metric: string;
  value: number;
  unit: string;
  /** Human-readable goal, e.g. "≥ 1000/s"; undefined when none. */
  goal?: string | undefined;
  /** Whether the goal is met; undefined when there is no goal. */
  met?: boolean | undefined;
}

/** Result of one scenario (orders, search, coldstart). */
export interface ScenarioResult {
  name: string;
  describe: string;
  rows: ScenarioRow[];
  /** Why it could not run, if so. */
  error?: string | undefined;
}

/** Machine facts printed at the top of a report. */
export interface RunInfo {
  date: string;
  cpus: number;
  cpuModel: string;
  bun: string;
  node: string;
  serverCpus: string | undefined;
  loadCpus: string | undefined;
  durationS: number;
  warmupS: number;
  rounds: number;
  connections: number;
  singleS: number;
}

const f = (n: number, d = 0): string => (Number.isFinite(n) ? n.toFixed(d) : "n/a");

/** `bench/results/latest.json`: `{ "<target>": { rps, p50_ms, p95_ms, p99_ms, cpu_ms_per_req, peak_rss_mb, correct } }`. */
export function latestJson(
  results: readonly TargetResult[],
): Record<
  string,
  { rps: number; p50_ms: number; p95_ms: number; p99_ms: number; cpu_ms_per_req: number; peak_rss_mb: number; correct: boolean }
> {
  const round = (n: number, d: number): number => Number(n.toFixed(d));
  return Object.fromEntries(
    results.map((r) => [
      r.name,
      {
        rps: round(r.rps, 1),
        p50_ms: round(r.p50Ms, 3),
        p95_ms: round(r.p95Ms, 3),
        p99_ms: round(r.p99Ms, 3),
        cpu_ms_per_req: round(r.cpuMsPerReq, 3),
        peak_rss_mb: round(r.peakRssMb, 1),
        correct: r.correct,
      },
    ]),
  );
}

/** The markdown report of a run: settings, the gateway table, single-connection latency, scenarios. */
export function markdown(info: RunInfo, results: readonly TargetResult[], scenarios: readonly ScenarioResult[]): string {
  const out: string[] = [];
  out.push(`# Benchmark run ${info.date}`, "");
  out.push(`Machine: ${info.cpus} CPUs (${info.cpuModel}), Bun ${info.bun}, Node ${info.node}.`);
  out.push(`Servers pinned to CPUs ${info.serverCpus ?? "(not pinned)"}, wrk to CPUs ${info.loadCpus ?? "(not pinned)"}.`);
  if (results.length) {
    out.push(
      `Load: wrk, ${info.connections} connections, warm-up ${info.warmupS} s, ${info.rounds} interleaved rounds of ${info.durationS} s; every response checked (HTTP 200 and byte-equal to a body verified equal to expected-response.json); unique x-request-id per request; inbound deduplication off everywhere.`,
      "",
    );
    const hive = results.find((r) => r.name === "hive-gateway-bun" && r.correct);
    out.push("## Fixture operation (gateways-benchmark TestQuery, 87.6 KB response)", "");
    out.push(
      "| target | correct | req/s (median) | spread (min–max) | × hive-gateway-bun | p50 ms | p95 ms | p99 ms | CPU ms/req (all server processes) | CPU ms/req (gateway) | peak RSS MB (all) | peak RSS MB (gateway) |",
    );
    out.push("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const r of results) {
      const ratio = hive && r.correct ? f(r.rps / hive.rps, 2) : "n/a";
      out.push(
        `| ${r.name} | ${r.correct ? "yes" : "**no**"} | ${f(r.rps)} | ${f(r.rpsMin)}–${f(r.rpsMax)} | ${ratio} | ${f(r.p50Ms, 2)} | ${f(r.p95Ms, 2)} | ${f(r.p99Ms, 2)} | ${f(r.cpuMsPerReq, 2)} | ${f(r.gatewayCpuMsPerReq, 2)} | ${f(r.peakRssMb)} | ${f(r.gatewayPeakRssMb)} |`,
      );
    }
    const wrong = results.filter((r) => !r.correct);
    if (wrong.length) {
      out.push("", "Targets reporting 0 (a wrong response, an error or no run):", "");
      for (const r of wrong) out.push(`- ${r.name}: ${r.problem ?? "unknown"}`);
    }
    const singles = results.filter((r) => r.single);
    if (singles.length) {
      out.push("", `## Single connection (${info.singleS} s each)`, "");
      out.push("| target | req/s | p50 ms | p95 ms | p99 ms |", "|---|---:|---:|---:|---:|");
      for (const r of singles) {
        const s = r.single as NonNullable<typeof r.single>;
        out.push(`| ${r.name} | ${f(s.rps)} | ${f(s.p50Ms, 2)} | ${f(s.p95Ms, 2)} | ${f(s.p99Ms, 2)} |`);
      }
    }
    out.push("", "## Targets", "");
    for (const r of results) out.push(`- **${r.name}**: ${r.describe}; ${r.checked} responses checked.`);
  }
  for (const s of scenarios) {
    out.push("", `## Scenario: ${s.name}`, "", s.describe, "");
    if (s.error) {
      out.push(`Not run: ${s.error}`);
      continue;
    }
    out.push("| metric | value | goal | met |", "|---|---:|---|---|");
    for (const row of s.rows)
      out.push(
        `| ${row.metric} | ${f(row.value, row.value < 10 ? 2 : 0)} ${row.unit} | ${row.goal ?? ""} | ${row.met === undefined ? "" : row.met ? "yes" : "**no**"} |`,
      );
  }
  out.push("");
  return out.join("\n");
}
