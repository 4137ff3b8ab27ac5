/**
 * `npm run bench [-- <target|scenario>...]`: the benchmark harness (see bench/README.md).
 * Without arguments runs every gateway target and every scenario; with arguments, those only.
 * Writes bench/results/<date>.md, bench/results/latest.json (gateway targets) and
 * bench/results/latest-scenarios.json (scenarios). Exit code 1 when a target was not correct
 * or a scenario failed to run, 2 on bad arguments or a missing tool (wrk).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { runGatewayBench, type TargetResult } from "./gateways.ts";
import { WrkMissingError } from "./lib/wrk.ts";
import { latestJson, markdown, type RunInfo, type ScenarioResult } from "./lib/report.ts";
import { PROFILE_DIR, TARGET_NAMES, ROOT, type TargetName } from "./targets.ts";
import { summarizeProfile } from "./lib/profile.ts";
import { SCENARIOS, SCENARIO_NAMES, type ScenarioName } from "./scenarios/index.ts";
import { searchMatrix } from "./scenarios/search-uncached.ts";

const num = (name: string, def: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    process.stderr.write(`bench: ${name} must be a number >= 0, got "${raw}"\n`);
    process.exit(2);
  }
  return n;
};

/** Default CPU split: servers on every CPU but the last, wrk on the last (none with 1 CPU). */
function cpuSplit(): { server: string | undefined; load: string | undefined } {
  if (process.env["BENCH_PIN"] === "0") return { server: undefined, load: undefined };
  const n = cpus().length;
  if (n < 2 || !Bun.which("taskset")) return { server: undefined, load: undefined };
  return {
    server: process.env["BENCH_SERVER_CPUS"] ?? (n === 2 ? "0" : `0-${n - 2}`),
    load: process.env["BENCH_LOAD_CPUS"] ?? String(n - 1),
  };
}

/**
 * With BENCH_PROFILE=1: for each profiled process (newest profile of each folder of
 * bench/results/profiles/), where its CPU samples landed, by package / project folder.
 */
function profileSection(): string {
  if (!existsSync(PROFILE_DIR)) return "";
  const out = ["", "## CPU profiles (BENCH_PROFILE=1; self samples by package or folder, idle excluded)", ""];
  for (const name of readdirSync(PROFILE_DIR).sort()) {
    const files = readdirSync(join(PROFILE_DIR, name))
      .filter((f) => f.endsWith(".cpuprofile"))
      .sort();
    const last = files[files.length - 1];
    if (!last) continue;
    const top = summarizeProfile(join(PROFILE_DIR, name, last), 12);
    out.push(
      `- **${name}** (\`bench/results/profiles/${name}/${last}\`): ${top.map((b) => `${b.bucket} ${(b.share * 100).toFixed(1)}%`).join(", ")}`,
    );
  }
  out.push("");
  return out.join("\n");
}

async function main(): Promise<number> {
  const args = process.argv.slice(2).filter((a) => a !== "--");
  const unknown = args.filter(
    (a) => !(TARGET_NAMES as readonly string[]).includes(a) && !(SCENARIO_NAMES as readonly string[]).includes(a),
  );
  if (unknown.length) {
    process.stderr.write(
      `bench: unknown target or scenario: ${unknown.join(", ")}\ntargets: ${TARGET_NAMES.join(", ")}\nscenarios: ${SCENARIO_NAMES.join(", ")}\n`,
    );
    return 2;
  }
  const targets = (args.length ? TARGET_NAMES.filter((t) => args.includes(t)) : [...TARGET_NAMES]) as TargetName[];
  const scenarios = (args.length ? SCENARIO_NAMES.filter((s) => args.includes(s)) : [...SCENARIO_NAMES]) as ScenarioName[];
  if (scenarios.includes("search")) {
    // Bad search knobs fail now, not after the gateway targets' minutes of load.
    try {
      searchMatrix();
    } catch (err) {
      process.stderr.write(`bench: ${(err as Error).message}\n`);
      return 2;
    }
  }
  const split = cpuSplit();
  const info: RunInfo = {
    date: new Date().toISOString().slice(0, 10),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    bun: Bun.version,
    node: spawnSync("node", ["--version"], { encoding: "utf8" }).stdout?.trim() ?? "not found",
    serverCpus: split.server,
    loadCpus: split.load,
    durationS: num("BENCH_DURATION_S", 10),
    warmupS: num("BENCH_WARMUP_S", 5),
    rounds: Math.max(1, Math.round(num("BENCH_ROUNDS", 3))),
    connections: Math.max(1, Math.round(num("BENCH_CONNECTIONS", 50))),
    singleS: num("BENCH_SINGLE_S", 5),
  };
  const log = (line: string): void => void process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  // A profiled run starts from an empty profile folder so the report reads this run's profiles.
  if (process.env["BENCH_PROFILE"] === "1") rmSync(PROFILE_DIR, { recursive: true, force: true });
  let results: TargetResult[] = [];
  if (targets.length) {
    try {
      results = await runGatewayBench({
        targets,
        durationS: info.durationS,
        warmupS: info.warmupS,
        rounds: info.rounds,
        connections: info.connections,
        singleS: info.singleS,
        serverCpus: info.serverCpus,
        loadCpus: info.loadCpus,
        verifyCount: Math.round(num("BENCH_VERIFY_N", 20)),
        log,
      });
    } catch (err) {
      if (err instanceof WrkMissingError) {
        process.stderr.write(`bench: ${err.message}\n`);
        return 2;
      }
      throw err;
    }
  }
  const scenarioResults: ScenarioResult[] = [];
  for (const name of scenarios) {
    log(`scenario ${name}`);
    try {
      scenarioResults.push(
        await SCENARIOS[name].run({ log, durationS: info.durationS, serverCpus: info.serverCpus, loadCpus: info.loadCpus }),
      );
    } catch (err) {
      scenarioResults.push({ name, describe: SCENARIOS[name].describe, rows: [], error: (err as Error).message });
    }
    const last = scenarioResults[scenarioResults.length - 1];
    for (const row of last?.rows ?? [])
      log(
        `  ${name}: ${row.metric} = ${row.value.toFixed(2)} ${row.unit}${row.goal ? ` (goal ${row.goal}: ${row.met ? "met" : "NOT met"})` : ""}`,
      );
    if (last?.error) log(`  ${name} failed: ${last.error}`);
  }

  const dir = join(ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  let md = markdown(info, results, scenarioResults);
  if (process.env["BENCH_PROFILE"] === "1") md += profileSection();
  writeFileSync(join(dir, `${info.date}.md`), md);
  if (results.length) writeFileSync(join(dir, "latest.json"), `${JSON.stringify(latestJson(results), null, 2)}\n`);
  if (scenarioResults.length) {
    const previous = (() => {
      try {
        return JSON.parse(readFileSync(join(dir, "latest-scenarios.json"), "utf8")) as Record<string, unknown>;
      } catch {
        return {};
      }
    })();
    const merged = {
      ...previous,
      ...Object.fromEntries(
        scenarioResults.map((s) => [
          s.name,
          s.error
            ? { error: s.error }
            : Object.fromEntries(
                s.rows.map((r) => [
                  r.metric,
                  { value: Number(r.value.toFixed(3)), unit: r.unit, ...(r.goal ? { goal: r.goal, met: r.met } : {}) },
                ]),
              ),
        ]),
      ),
    };
    writeFileSync(join(dir, "latest-scenarios.json"), `${JSON.stringify(merged, null, 2)}\n`);
  }
  process.stdout.write(
    `\n${md}\nwritten: bench/results/${info.date}.md${results.length ? ", bench/results/latest.json" : ""}${scenarioResults.length ? ", bench/results/latest-scenarios.json" : ""}\n`,
  );
  return results.some((r) => !r.correct) || scenarioResults.some((s) => s.error) ? 1 : 0;
}

process.exit(await main());
