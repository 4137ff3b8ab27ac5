/**
 * Store-level search timing (no gateway): generates the search scenario's catalog
 * (`SEARCH_PRODUCTS`, default 100,000) into a SQLite file kept between runs (`SEARCH_DB`, default
 * /tmp/switchyard-search-<n>.sqlite) or into PostgreSQL, and times `listProducts(first: 10)` +
 * `countProductsBounded(…, SEARCH_COUNT_BOUND)` (the count GraphQL's totalCount asks for) on one connection. Prints p50/p95/p99 in ms, per term (repeat workload) or
 * per kind of term and the slowest terms (distinct workload).
 *
 * Workloads (`SEARCH_WORKLOAD`):
 * - `repeat` (default): the scenario's 20 terms in turn, `SEARCH_N` (200) searches after one
 *   warm-up pass; with the search cache this measures the cache.
 * - `distinct`: `SEARCH_N` (1,000) distinct terms drawn from the catalog's vocabulary (words,
 *   prefixes, two-word queries; see `distinctSearchTerms`), none repeated, after 50 other
 *   distinct warm-up terms: the uncached path as real traffic (a long tail) meets it.
 *
 *   bun bench/search-store.ts                                        # SQLite, 100k
 *   SEARCH_CACHE=0 SEARCH_WORKLOAD=distinct bun bench/search-store.ts # uncached, 1,000 distinct terms
 *   SEARCH_PRODUCTS=1000000 SEARCH_CACHE=0 SEARCH_WORKLOAD=distinct bun bench/search-store.ts
 *   DATABASE_URL=postgres://… bun bench/search-store.ts   # PostgreSQL (seeds if empty)
 *   SEARCH_PG=1 SEARCH_N=40 bun bench/search-store.ts     # PostgreSQL on a throwaway local cluster
 */
import { existsSync } from "node:fs";
import { startPostgres } from "../scripts/devservers/postgres.ts";
import { SEARCH_COUNT_BOUND, searchTerms } from "../src/modules/catalog/search.ts";
import { openCatalogDatabase } from "../src/modules/catalog/storage/store.ts";
import type { CatalogStore } from "../src/modules/catalog/storage/types.ts";
import { percentile } from "./scenarios/search-uncached.ts";
import { distinctSearchTerms, generateCatalog, SEARCH_PRODUCTS, SEARCH_TERMS, type SearchTermKind } from "./scenarios/search.ts";

const products = Number(process.env.SEARCH_PRODUCTS ?? SEARCH_PRODUCTS);
const workload = process.env.SEARCH_WORKLOAD ?? "repeat";
if (workload !== "repeat" && workload !== "distinct") throw new Error(`SEARCH_WORKLOAD must be repeat or distinct, not ${workload}`);
const N = Number(process.env.SEARCH_N ?? (workload === "distinct" ? 1000 : 200));
/** Distinct warm-up terms before the measured window (not measured, never repeated in it). */
const WARMUP = 50;
/** `SEARCH_PG=1`: a throwaway local PostgreSQL cluster (`startPostgres`), else `DATABASE_URL` if set. */
const pgServer = process.env.SEARCH_PG === "1" ? await startPostgres() : undefined;
const url = pgServer ? await pgServer.createDatabase("search_bench") : process.env.DATABASE_URL;
const path = process.env.SEARCH_DB ?? `/tmp/switchyard-search-${products / 1000}k.sqlite`;
const fresh = !url && !existsSync(path);
/** `SEARCH_CACHE=0` measures the uncached path (every search ranks and counts in the database). */
const searchCacheEntries = process.env.SEARCH_CACHE === undefined ? undefined : Number(process.env.SEARCH_CACHE);
const cache = searchCacheEntries === undefined ? {} : { searchCacheEntries };
const t0 = performance.now();
const store: CatalogStore = await openCatalogDatabase(url ? { kind: "postgres", url, poolMax: 1 } : { kind: "sqlite", path }, cache);
console.log(`opened (and migrated) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
if (fresh || url) {
  const t1 = performance.now();
  const n = await store.seedIfEmpty(generateCatalog(products));
  if (n) console.log(`seeded ${n} products in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
}

const summary = (xs: number[]): string =>
  xs.length === 0
    ? "no searches"
    : `p50 ${percentile(xs, 50).toFixed(2)} ms, p95 ${percentile(xs, 95).toFixed(2)} ms, p99 ${percentile(xs, 99).toFixed(2)} ms`;

async function once(q: string): Promise<number> {
  const terms = searchTerms(q);
  const t = performance.now();
  await Promise.all([store.listProducts({ terms, first: 10 }), store.countProductsBounded({ terms }, SEARCH_COUNT_BOUND)]);
  return performance.now() - t;
}

const label = `${url ? "postgres" : "sqlite"} ${products.toLocaleString("en")} products${searchCacheEntries === 0 ? " (no cache)" : ""}`;
if (workload === "repeat") {
  for (const q of SEARCH_TERMS) await once(q);
  const all: number[] = [];
  const perTerm = new Map<string, number[]>();
  for (let i = 0; i < N; i++) {
    const q = SEARCH_TERMS[i % SEARCH_TERMS.length] as string;
    const ms = await once(q);
    all.push(ms);
    perTerm.set(q, [...(perTerm.get(q) ?? []), ms]);
  }
  console.log(`${label}: ${N} searches ${summary(all)}`);
  for (const [q, xs] of perTerm) console.log(`  ${q.padEnd(18)} ${percentile(xs, 50).toFixed(2)} ms`);
} else {
  const terms = distinctSearchTerms(WARMUP + N);
  for (const { q } of terms.slice(0, WARMUP)) await once(q);
  const all: { q: string; kind: SearchTermKind; ms: number }[] = [];
  for (const { q, kind } of terms.slice(WARMUP)) all.push({ q, kind, ms: await once(q) });
  console.log(`${label}, ${N} distinct terms: ${summary(all.map((x) => x.ms))}`);
  for (const kind of ["word", "prefix", "two words"] as const) {
    const xs = all.filter((x) => x.kind === kind).map((x) => x.ms);
    console.log(`  ${kind.padEnd(10)} (${String(xs.length).padStart(4)}) ${summary(xs)}`);
  }
  const slowest = [...all].sort((a, b) => b.ms - a.ms).slice(0, 8);
  console.log(`  slowest: ${slowest.map((x) => `"${x.q}" ${x.ms.toFixed(1)}`).join(", ")}`);
}
await store.close();
await pgServer?.stop();
