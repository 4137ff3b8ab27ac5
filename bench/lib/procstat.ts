import { readFileSync, readdirSync } from "node:fs";
import { spawnSync } from "node:child_process";

/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`, 100 on Linux). */
export const CLK_TCK: number = (() => {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

interface Stat {
  pid: number;
  ppid: number;
  /** utime + stime, clock ticks. */
  ticks: number;
}

function readStat(pid: number): Stat | undefined {
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined; // exited
  }
  // comm (field 2) may contain spaces and parentheses: fields after the last ')' are fixed.
  const rest = raw.slice(raw.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state): ppid = field 4, utime = 14, stime = 15.
  return { pid, ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
}

/** `roots` and every live descendant process of them (children of children, ...). */
export function processTree(roots: readonly number[]): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const s = readStat(pid);
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push(pid);
    children.set(s.ppid, list);
  }
  const out = new Set<number>();
  const stack = [...roots];
  while (stack.length) {
    const p = stack.pop() as number;
    if (out.has(p)) continue;
    out.add(p);
    stack.push(...(children.get(p) ?? []));
  }
  return [...out];
}

/** CPU time (user + system) consumed so far by `pids`, in ms; exited processes count 0. */
export function cpuMs(pids: readonly number[]): number {
  let ticks = 0;
  for (const p of pids) ticks += readStat(p)?.ticks ?? 0;
  return (ticks * 1000) / CLK_TCK;
}

/** Resident set size of one process now, in bytes (VmRSS); 0 when it exited. */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Samples the summed RSS of `pids()` every `intervalMs` until stopped; `stop()` returns the
 * peak seen, in bytes.
 */
export function sampleRss(pids: () => readonly number[], intervalMs = 200): { stop(): number } {
  let peak = 0;
  const sample = (): void => {
    let sum = 0;
    for (const p of pids()) sum += rssBytes(p);
    if (sum > peak) peak = sum;
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

/** Pins every thread of `pids` to the CPU list `cpus` (`taskset -a -p -c`); false when taskset failed. */
export function pin(pids: readonly number[], cpus: string): boolean {
  let ok = true;
  for (const p of pids) {
    const r = spawnSync("taskset", ["-a", "-p", "-c", cpus, String(p)], { stdio: "ignore" });
    if (r.status !== 0) ok = false;
  }
  return ok;
}
