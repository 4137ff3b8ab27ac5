/**
 * Store-level search timing (no gateway): generates the search scenario's 100,000-product
 * catalog into a SQLite file (kept between runs, `SEARCH_DB` or /tmp/switchyard-search-100k.sqlite)
 * and times `listProducts(first: 10)` + `countProducts` over the scenario's 20 terms in turn,
 * `SEARCH_N` (200) searches on one connection after one warm-up pass. Prints p50/p95/p99 and
 * the per-term median, in ms.
 *
 *   bun bench/search-store.ts            # SQLite
 *   DATABASE_URL=postgres://… bun bench/search-store.ts   # PostgreSQL (seeds if empty)
 *   SEARCH_PG=1 SEARCH_N=40 bun bench/search-store.ts     # PostgreSQL on a throwaway local cluster
 *   SEARCH_CACHE=0 bun bench/search-store.ts               # without the search cache
 */
import { existsSync } from "node:fs";
import { startPostgres } from "../scripts/devservers/postgres.ts";
import { searchTerms } from "../src/modules/catalog/search.ts";
import { openCatalogDatabase } from "../src/modules/catalog/storage/store.ts";
import type { CatalogStore } from "../src/modules/catalog/storage/types.ts";
import { generateCatalog, SEARCH_PRODUCTS, SEARCH_TERMS } from "./scenarios/search.ts";

const N = Number(process.env.SEARCH_N ?? 200);
/** `SEARCH_PG=1`: a throwaway local PostgreSQL cluster (`startPostgres`), else `DATABASE_URL` if set. */
const pgServer = process.env.SEARCH_PG === "1" ? await startPostgres() : undefined;
const url = pgServer ? await pgServer.createDatabase("search_bench") : process.env.DATABASE_URL;
const path = process.env.SEARCH_DB ?? "/tmp/switchyard-search-100k.sqlite";
const fresh = !url && !existsSync(path);
/** `SEARCH_CACHE=0` measures the uncached path (every search ranks and counts in the database). */
const searchCacheEntries = process.env.SEARCH_CACHE === undefined ? undefined : Number(process.env.SEARCH_CACHE);
const cache = searchCacheEntries === undefined ? {} : { searchCacheEntries };
const store: CatalogStore = await openCatalogDatabase(url ? { kind: "postgres", url, poolMax: 1 } : { kind: "sqlite", path }, cache);
if (fresh || url) {
  const t0 = performance.now();
  const n = await store.seedIfEmpty(generateCatalog(SEARCH_PRODUCTS));
  if (n) console.log(`seeded ${n} products in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};

async function once(q: string): Promise<number> {
  const terms = searchTerms(q);
  const t = performance.now();
  await Promise.all([store.listProducts({ terms, first: 10 }), store.countProducts({ terms })]);
  return performance.now() - t;
}

for (const q of SEARCH_TERMS) await once(q);
const all: number[] = [];
const perTerm = new Map<string, number[]>();
for (let i = 0; i < N; i++) {
  const q = SEARCH_TERMS[i % SEARCH_TERMS.length] as string;
  const ms = await once(q);
  all.push(ms);
  perTerm.set(q, [...(perTerm.get(q) ?? []), ms]);
}
console.log(
  `${url ? "postgres" : "sqlite"}${searchCacheEntries === 0 ? " (no cache)" : ""}: ${N} searches p50 ${pct(all, 50).toFixed(2)} ms, p95 ${pct(all, 95).toFixed(2)} ms, p99 ${pct(all, 99).toFixed(2)} ms`,
);
for (const [q, xs] of perTerm) console.log(`  ${q.padEnd(18)} ${pct(xs, 50).toFixed(2)} ms`);
await store.close();
await pgServer?.stop();
