import { join } from "node:path";

/** Thrown when `wrk` is not installed; the message is the exact command to install it. */
export class WrkMissingError extends Error {
  override readonly name = "WrkMissingError";
}

/** Path of the `wrk` binary. @throws WrkMissingError with the apt-get command when missing. */
export function findWrk(): string {
  const found = Bun.which("wrk");
  if (found) return found;
  const sudo = process.getuid?.() === 0 ? "" : "sudo ";
  throw new WrkMissingError(
    `wrk (HTTP load generator, Debian package "wrk") is not installed. Install it with:\n  ${sudo}apt-get update && ${sudo}apt-get install -y wrk`,
  );
}

/** One wrk run, as parsed from check.lua's `BENCH_RESULT` line (latencies in ms). */
export interface WrkResult {
  requests: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** Responses checked by the Lua script (should equal `requests`). */
  checked: number;
  /** 200 responses whose body differs from the canonical body. */
  wrong: number;
  /** Non-200 responses. */
  badStatus: number;
  /** Socket errors: connect, read, write, timeout. */
  socketErrors: number;
}

export interface WrkOptions {
  url: string;
  connections: number;
  durationS: number;
  /** Lua script in bench/load/ (default check.lua) and its arguments. */
  script?: string;
  scriptArgs: readonly string[];
  /** CPU list to pin wrk to (`taskset -c`), e.g. "1"; undefined = no pinning. */
  cpus?: string | undefined;
  /** Per-request timeout, s. Default 10. */
  timeoutS?: number;
}

const LOAD_DIR = join(import.meta.dir, "..", "load");

/** Arguments of check.lua: canonical body file, request body file, x-request-id prefix. */
export const checkArgs = (canonicalFile: string, bodyFile: string, idPrefix: string): string[] => [canonicalFile, bodyFile, idPrefix];

/**
 * Runs wrk (one thread, `connections` connections, closed loop) with a checking Lua script
 * (check.lua: byte-equal to a canonical body; graphql.lua: contains a string, no errors). @throws when wrk fails or prints no result line (its output is in the message).
 */
export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  const wrk = findWrk();
  const threads = 1;
  const cmd = [
    wrk,
    `-t${threads}`,
    `-c${Math.max(o.connections, threads)}`,
    `-d${o.durationS}s`,
    `--timeout`,
    `${o.timeoutS ?? 10}s`,
    "-s",
    join(LOAD_DIR, o.script ?? "check.lua"),
    o.url,
    "--",
    ...o.scriptArgs,
  ];
  const full = o.cpus !== undefined ? ["taskset", "-c", o.cpus, ...cmd] : cmd;
  const proc = Bun.spawn(full, { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const line = out.split("\n").find((l) => l.startsWith("BENCH_RESULT "));
  if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}):\n${out}\n${err}`);
  const r = JSON.parse(line.slice("BENCH_RESULT ".length)) as Record<string, number>;
  const n = (k: string): number => r[k] ?? 0;
  const durationS = n("duration_us") / 1e6;
  return {
    requests: n("requests"),
    durationS,
    rps: durationS > 0 ? n("requests") / durationS : 0,
    p50Ms: n("p50_us") / 1000,
    p90Ms: n("p90_us") / 1000,
    p95Ms: n("p95_us") / 1000,
    p99Ms: n("p99_us") / 1000,
    maxMs: n("max_us") / 1000,
    meanMs: n("mean_us") / 1000,
    checked: n("checked"),
    wrong: n("wrong"),
    badStatus: n("bad_status"),
    socketErrors: n("err_connect") + n("err_read") + n("err_write") + n("err_timeout"),
  };
}

/** Result of {@link verifyTarget}. */
export interface Verification {
  ok: boolean;
  /** The first response body, when correct: what every load response must be byte-equal to. */
  canonical: string | undefined;
  /** What was wrong (status, errors, first differing path), when not ok. */
  problem: string | undefined;
}

/** First JSON path where `a` and `b` differ, or undefined when deep-equal. */
export function firstDifference(a: unknown, b: unknown, path = "$"): string | undefined {
  if (a === b) return undefined;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object")
    return `${path}: ${JSON.stringify(a)?.slice(0, 80)} != ${JSON.stringify(b)?.slice(0, 80)}`;
  if (Array.isArray(a) !== Array.isArray(b)) return `${path}: array vs object`;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return `${path}: keys [${ka.join(",")}] != [${kb.join(",")}]`;
  for (const k of ka) {
    const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
    if (d) return d;
  }
  return undefined;
}

/**
 * Sends `count` requests (`concurrency` at a time, each with a unique x-request-id) and checks
 * each: HTTP 200 and a JSON body deep-equal to `expected` (the parsed expected response).
 * The first body becomes the canonical body the load run compares bytes against; a target
 * whose correct responses differ in bytes from one another fails here too.
 */
export async function verifyTarget(
  url: string,
  requestBody: string,
  expected: unknown,
  count = 20,
  concurrency = 5,
): Promise<Verification> {
  let canonical: string | undefined;
  let seq = 0;
  const one = async (): Promise<string | undefined> => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json", "x-request-id": `verify-${++seq}-${Date.now()}` },
      body: requestBody,
    });
    const text = await res.text();
    if (res.status !== 200) return `HTTP ${res.status}: ${text.slice(0, 300)}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return `body is not JSON: ${text.slice(0, 200)}`;
    }
    const diff = firstDifference(parsed, expected);
    if (diff) return `response differs from expected-response.json at ${diff}`;
    if (canonical === undefined) canonical = text;
    else if (text !== canonical) return "correct responses differ from one another in bytes";
    return undefined;
  };
  for (let done = 0; done < count; done += concurrency) {
    const problems = (
      await Promise.all(
        Array.from({ length: Math.min(concurrency, count - done) }, () => one().catch((err: unknown) => `request failed: ${String(err)}`)),
      )
    ).filter(Boolean);
    if (problems.length) return { ok: false, canonical: undefined, problem: problems[0] };
  }
  return { ok: true, canonical, problem: undefined };
}
