import type { ScenarioRow } from "../lib/report.ts";
import type { SearchDatabase } from "./search-seed.ts";

/** Catalog sizes of the uncached search workload when `SEARCH_SIZES` is unset. */
export const DEFAULT_SEARCH_SIZES: readonly number[] = [100_000, 1_000_000];
/** Databases of the uncached search workload when `SEARCH_DATABASES` is unset. */
export const DEFAULT_SEARCH_DATABASES: readonly SearchDatabase[] = ["sqlite", "postgres"];
/** Distinct terms measured per (database, size) when `SEARCH_DISTINCT_N` is unset (the issue's ≥ 1,000). */
export const DEFAULT_DISTINCT_N = 1000;
/** Cap of one (database, size)'s measured window when `SEARCH_DISTINCT_MAX_S` is unset, s. */
export const DEFAULT_DISTINCT_MAX_S = 240;

/** What the uncached search workload runs: every size on every database, and how long. */
export interface SearchMatrix {
  sizes: number[];
  databases: SearchDatabase[];
  /** Distinct terms measured per (database, size). */
  distinctN: number;
  /** The measured window stops here even if terms are left, s. */
  maxS: number;
}

/**
 * The uncached workload's settings from `SEARCH_SIZES` (comma-separated product counts,
 * default 100000,1000000), `SEARCH_DATABASES` (sqlite, postgres; default both),
 * `SEARCH_DISTINCT_N` (default 1,000) and `SEARCH_DISTINCT_MAX_S` (default 240).
 * @throws RangeError naming the variable and the bad value.
 */
export function searchMatrix(env: Record<string, string | undefined> = process.env): SearchMatrix {
  const list = (name: string): string[] | undefined => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === "") return undefined;
    const items = raw.split(",").map((s) => s.trim());
    if (items.some((s) => s === "") || new Set(items).size !== items.length)
      throw new RangeError(`${name} must be a comma-separated list without blanks or repeats, got "${raw}"`);
    return items;
  };
  const positive = (name: string, raw: string | undefined, def: number): number => {
    if (raw === undefined || raw.trim() === "") return def;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${name} must be a whole number >= 1, got "${raw}"`);
    return n;
  };
  const sizes = list("SEARCH_SIZES")?.map((s) => positive("SEARCH_SIZES", s, 0)) ?? [...DEFAULT_SEARCH_SIZES];
  const databases = list("SEARCH_DATABASES")?.map((d) => {
    if (d !== "sqlite" && d !== "postgres") throw new RangeError(`SEARCH_DATABASES takes sqlite and postgres, got "${d}"`);
    return d;
  }) ?? [...DEFAULT_SEARCH_DATABASES];
  return {
    sizes,
    databases,
    distinctN: positive("SEARCH_DISTINCT_N", env["SEARCH_DISTINCT_N"], DEFAULT_DISTINCT_N),
    maxS: positive("SEARCH_DISTINCT_MAX_S", env["SEARCH_DISTINCT_MAX_S"], DEFAULT_DISTINCT_MAX_S),
  };
}

/** "100k", "1M", "2k": a catalog size as the rows name it. */
export function sizeLabel(products: number): string {
  if (products >= 1_000_000 && products % 1_000_000 === 0) return `${products / 1_000_000}M`;
  if (products >= 1000 && products % 1000 === 0) return `${products / 1000}k`;
  return String(products);
}

/** The issue's uncached p95 targets through the gateway, one connection, ms (by database, then size). */
const P95_TARGET_MS: Record<SearchDatabase, Record<number, number>> = {
  sqlite: { 100000: 10, 1000000: 25 },
  postgres: { 100000: 20, 1000000: 60 },
};

/** One measured search: its term, the kind of term, and its latency, ms. */
export interface SearchSample<K extends string = string> {
  q: string;
  kind: K;
  ms: number;
}

/**
 * Searches `terms` through the gateway at `url` one after the other on one keep-alive
 * connection (`query` with `variables: { q }`), each term once, timing each request to its
 * last byte; stops after the last term or once `maxS` have passed. Every answer must be HTTP
 * 200, contain `"totalCount":` and no `"errors"`.
 * @returns the samples in order (fewer than `terms` when the window ran out).
 * @throws Error at the first wrong answer (naming the term), or RangeError when `terms` repeats one.
 */
export async function searchEachOnce<K extends string>(
  url: string,
  query: string,
  terms: readonly { q: string; kind: K }[],
  maxS: number,
): Promise<SearchSample<K>[]> {
  if (new Set(terms.map((t) => t.q)).size !== terms.length) throw new RangeError("the terms of an uncached window must be distinct");
  const samples: SearchSample<K>[] = [];
  const end = performance.now() + maxS * 1000;
  for (const { q, kind } of terms) {
    if (performance.now() >= end) break;
    const t = performance.now();
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ query, variables: { q } }),
    });
    const body = await res.text();
    const ms = performance.now() - t;
    if (res.status !== 200 || !body.includes('"totalCount":') || body.includes('"errors"'))
      throw new Error(`search "${q}": HTTP ${res.status}, ${body.slice(0, 300)}`);
    samples.push({ q, kind, ms });
  }
  return samples;
}

/** Nearest-rank percentile `p` (0-100) of `xs`, NaN when empty. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

/**
 * The rows of one (database, size): p50/p95/p99 (p95 next to the issue's target for
 * 100k and 1M) and how many distinct terms the window measured (the issue asks ≥ 1,000).
 */
export function uncachedRows(db: SearchDatabase, products: number, samples: readonly SearchSample[]): ScenarioRow[] {
  const at = `(${db}, ${sizeLabel(products)})`;
  const ms = samples.map((s) => s.ms);
  const p95 = percentile(ms, 95);
  const target = P95_TARGET_MS[db][products];
  return [
    { metric: `uncached search p50, 1 connection ${at}`, value: percentile(ms, 50), unit: "ms" },
    {
      metric: `uncached search p95, 1 connection ${at}`,
      value: p95,
      unit: "ms",
      ...(target === undefined ? {} : { goal: `≤ ${target} ms`, met: p95 <= target }),
    },
    { metric: `uncached search p99, 1 connection ${at}`, value: percentile(ms, 99), unit: "ms" },
    {
      metric: `uncached distinct terms measured ${at}`,
      value: samples.length,
      unit: "",
      goal: `≥ ${DEFAULT_DISTINCT_N.toLocaleString("en")}`,
      met: samples.length >= DEFAULT_DISTINCT_N,
    },
  ];
}

/** One log line per kind of term (count and p50/p95) and the slowest terms of a window. */
export function describeSamples(samples: readonly SearchSample[]): string[] {
  const kinds = [...new Set(samples.map((s) => s.kind))];
  const lines = kinds.map((k) => {
    const xs = samples.filter((s) => s.kind === k).map((s) => s.ms);
    return `${k}: ${xs.length} terms, p50 ${percentile(xs, 50).toFixed(1)} ms, p95 ${percentile(xs, 95).toFixed(1)} ms`;
  });
  const slowest = [...samples].sort((a, b) => b.ms - a.ms).slice(0, 6);
  lines.push(`slowest: ${slowest.map((s) => `"${s.q}" ${s.ms.toFixed(1)} ms`).join(", ")}`);
  return lines;
}
