import { newId } from "../../src/kernel/ids.ts";
import type { NewCategory } from "../../src/modules/catalog/storage/types.ts";
import type { ScenarioResult, ScenarioRow } from "../lib/report.ts";
import type { ScenarioContext } from "./index.ts";
import { loadGraphql, startProduct } from "./product.ts";
import { type CatalogGenerator, type SearchDatabase, seedCacheDir, seededCatalog } from "./search-seed.ts";
import {
  DEFAULT_DISTINCT_MAX_S,
  DEFAULT_DISTINCT_N,
  DEFAULT_SEARCH_DATABASES,
  DEFAULT_SEARCH_SIZES,
  describeSamples,
  type SearchMatrix,
  searchEachOnce,
  searchMatrix,
  sizeLabel,
  uncachedRows,
} from "./search-uncached.ts";

/** Products of the search scenario's repeated-terms (search cache) rows. */
export const SEARCH_PRODUCTS = 100_000;

const ADJECTIVES = [
  "compact",
  "rugged",
  "classic",
  "modern",
  "vintage",
  "premium",
  "portable",
  "wireless",
  "ergonomic",
  "handmade",
  "organic",
  "stainless",
  "foldable",
  "insulated",
  "waterproof",
  "lightweight",
  "adjustable",
  "cordless",
  "ceramic",
  "bamboo",
];
const MATERIALS = [
  "oak",
  "steel",
  "cotton",
  "linen",
  "leather",
  "glass",
  "copper",
  "walnut",
  "wool",
  "carbon",
  "silicone",
  "marble",
  "canvas",
  "aluminium",
  "cork",
];
const NOUNS = [
  "kettle",
  "grinder",
  "lamp",
  "backpack",
  "blanket",
  "chair",
  "desk",
  "mug",
  "knife",
  "skillet",
  "speaker",
  "headphones",
  "jacket",
  "boots",
  "tent",
  "bottle",
  "notebook",
  "pen",
  "shelf",
  "rug",
  "pillow",
  "planter",
  "clock",
  "mirror",
  "tray",
];
/** Syllables of the descriptions' pseudo-words (20³ = 8,000 words: each in ~150 products). */
const SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vi", "so", "pe", "da", "fu", "ri", "go", "le", "za", "mo", "bi", "te", "ha", "yu"];

/** Deterministic PRNG (mulberry32) so every run searches the same catalog. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `count` generated products in 50 categories: name "<adjective> <material> <noun> <n>"
 * (a noun is in ~4% of the products, an adjective in 5%, a material in ~7%) and a description
 * of the noun and 12 pseudo-words (each in ~0.15%), so that terms have realistic selectivities.
 */
export function generateCatalog(count: number): NewCategory[] {
  const r = rng(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const categories: NewCategory[] = Array.from({ length: 50 }, (_, i) => ({ id: newId(), name: `Category ${i + 1}`, products: [] }));
  const now = new Date().toISOString();
  for (let i = 0; i < count; i++) {
    const noun = pick(NOUNS);
    const description = Array.from({ length: 12 }, () => pick(SYLLABLES) + pick(SYLLABLES) + pick(SYLLABLES)).join(" ");
    (categories[i % categories.length] as NewCategory).products.push({
      id: newId(),
      name: `${pick(ADJECTIVES)} ${pick(MATERIALS)} ${noun} ${i + 1}`,
      description: `A ${noun} that ${description}.`,
      priceCents: 100 + Math.floor(r() * 50_000),
      currency: "USD",
      stock: Math.floor(r() * 500),
      createdAt: now,
    });
  }
  return categories;
}

/** How a term of the uncached workload was made (for per-kind percentiles). */
export type SearchTermKind = "word" | "prefix" | "two words";

/**
 * `count` distinct search strings drawn from the generated catalog's vocabulary, in a fixed
 * shuffled order (no term twice), for measuring search without its cache (real traffic is a
 * long tail of distinct queries): ~40% whole words (name words and description pseudo-words),
 * ~30% prefixes of 2 characters up to one short of the word, ~30% two-word queries (a name word
 * with a noun, a noun with a pseudo-word, a word with a prefix). Deterministic (seeded).
 * @throws RangeError when the vocabulary cannot give `count` distinct strings (> ~100,000).
 */
export function distinctSearchTerms(count: number, seed = 7): { q: string; kind: SearchTermKind }[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const nameWords = [...ADJECTIVES, ...MATERIALS, ...NOUNS];
  const pseudo = (): string => pick(SYLLABLES) + pick(SYLLABLES) + pick(SYLLABLES);
  const word = (): string => (r() < 0.4 ? pick(nameWords) : pseudo());
  const prefix = (w: string): string => w.slice(0, 2 + Math.floor(r() * Math.max(1, w.length - 2)));
  const seen = new Set<string>();
  const out: { q: string; kind: SearchTermKind }[] = [];
  for (let tries = 0; out.length < count; tries++) {
    if (tries > count * 50) throw new RangeError(`cannot draw ${count} distinct search terms`);
    const x = r();
    const [q, kind]: [string, SearchTermKind] =
      x < 0.4
        ? [word(), "word"]
        : x < 0.7
          ? [prefix(word()), "prefix"]
          : r() < 0.5
            ? [`${pick([...ADJECTIVES, ...MATERIALS])} ${pick(NOUNS)}`, "two words"]
            : r() < 0.5
              ? [`${pick(NOUNS)} ${pseudo()}`, "two words"]
              : [`${word()} ${prefix(word())}`, "two words"];
    if (seen.has(q)) continue;
    seen.add(q);
    out.push({ q, kind });
  }
  return out;
}

const SEARCH = "query($q: String!) { products(search: $q, first: 10) { totalCount edges { node { id name price { amount currency } } } } }";
/** Search terms: whole words of several selectivities, two-word queries, prefixes. */
export const SEARCH_TERMS: readonly string[] = [
  "kettle",
  "walnut lamp",
  "wireless",
  "steel",
  "backpack",
  "insulated bottle",
  "marble tray",
  "grind",
  "porta",
  "cork",
  "handmade rug",
  "headph",
  "planter",
  "oak desk",
  "vintage clock",
  "skill",
  "copper mug",
  "boots",
  "kalomi",
  "ergonomic chair",
];

/** The search scenario's generator for {@link seededCatalog}: bump `version` when {@link generateCatalog} changes its output. */
export const CATALOG_GENERATOR: CatalogGenerator = { generate: generateCatalog, version: 1 };

/** Distinct warm-up terms before each uncached window (not measured, never in it). */
const DISTINCT_WARMUP = 50;

/**
 * The `search` scenario, for each database and catalog size of {@link searchMatrix} (default:
 * SQLite and PostgreSQL, 100,000 and 1,000,000 products): the generated catalog
 * ({@link seededCatalog}: seeded by the catalog store once, kept, copied per run), the product
 * started on it, and `products(search:, first: 10)` with totalCount through the gateway.
 * SQLite at 100,000 also measures the 20 repeated terms (the search cache's case): one
 * connection (the latency goal) and 50 connections (throughput). Every (database, size)
 * measures the uncached workload: distinct terms of the catalog's vocabulary, each once, one
 * connection, none of them seen before by that product process, so each misses its search
 * cache and ranks and counts in the database.
 * @param env where the knobs are read (`SEARCH_SIZES`, `SEARCH_DATABASES`, `SEARCH_DISTINCT_N`,
 *   `SEARCH_DISTINCT_MAX_S`, `SEARCH_SEED_DIR`).
 * @throws RangeError on a bad knob; Error when a catalog, the product or an answer is wrong.
 */
export async function searchScenario(ctx: ScenarioContext, env: Record<string, string | undefined> = process.env): Promise<ScenarioResult> {
  const matrix = searchMatrix(env);
  const cacheDir = seedCacheDir(env);
  const rows: ScenarioRow[] = [];
  for (const db of matrix.databases) for (const size of matrix.sizes) rows.push(...(await searchOn(db, size, matrix, cacheDir, ctx)));
  return { name: "search", describe: SEARCH_DESCRIBE, rows };
}

/** The search scenario's rows of one database and catalog size (see {@link searchScenario}). */
async function searchOn(
  db: SearchDatabase,
  size: number,
  matrix: SearchMatrix,
  cacheDir: string | undefined,
  ctx: ScenarioContext,
): Promise<ScenarioRow[]> {
  const at = `${db}, ${sizeLabel(size)}`;
  const catalog = await seededCatalog(db, size, { generator: CATALOG_GENERATOR, cacheDir, log: ctx.log });
  try {
    ctx.log(`  search (${at}): catalog ${catalog.built ? "generated" : "copied from the kept one"} in ${(catalog.ms / 1000).toFixed(1)} s`);
    const p = await startProduct({
      env: catalog.databaseUrl ? { DATABASE_URL: catalog.databaseUrl } : {},
      dataDir: catalog.dataDir,
      serverCpus: ctx.serverCpus,
      profileName: `search-${db}-${sizeLabel(size)}`,
    });
    try {
      const { products } = await p.gql<{ products: { totalCount: number } }>("{ products(first: 1) { totalCount } }");
      if (products.totalCount !== size) throw new Error(`catalog (${at}) has ${products.totalCount} products, expected ${size}`);
      // Warm-up: the 20 repeated terms once each (in the search cache from then on), then
      // those at 10 connections (the gateway's code paths hot), then distinct terms.
      await searchEachOnce(
        p.url,
        SEARCH,
        SEARCH_TERMS.map((q) => ({ q, kind: "repeated" })),
        matrix.maxS,
      );
      const bodies = SEARCH_TERMS.map((q) => JSON.stringify({ query: SEARCH, variables: { q } }));
      const load = { url: p.url, bodies, mustContain: '"totalCount":', loadCpus: ctx.loadCpus };
      await loadGraphql({ ...load, connections: 10, durationS: Math.min(2, ctx.durationS), what: `search warm-up (${at})` });
      const rows: ScenarioRow[] = [];
      if (db === "sqlite" && size === SEARCH_PRODUCTS) {
        const one = await loadGraphql({ ...load, connections: 1, durationS: ctx.durationS, what: "search, 1 connection" });
        const many = await loadGraphql({ ...load, connections: 50, durationS: ctx.durationS, what: "search, 50 connections" });
        rows.push(
          { metric: "products in catalog", value: products.totalCount, unit: "" },
          { metric: "search p50, 1 connection", value: one.p50Ms, unit: "ms" },
          { metric: "search p95, 1 connection", value: one.p95Ms, unit: "ms", goal: "≤ 5 ms", met: one.p95Ms <= 5 },
          { metric: "search p99, 1 connection", value: one.p99Ms, unit: "ms" },
          { metric: "search/s, 50 connections", value: many.rps, unit: "req/s" },
          { metric: "search p95, 50 connections", value: many.p95Ms, unit: "ms" },
        );
      }
      // Uncached: distinct terms from the catalog's vocabulary, none of the 20 above, each
      // once, so every search ranks and counts in the database, as the long tail of real
      // traffic does.
      const repeated = new Set(SEARCH_TERMS);
      const distinct = distinctSearchTerms(DISTINCT_WARMUP + matrix.distinctN + SEARCH_TERMS.length).filter((t) => !repeated.has(t.q));
      await searchEachOnce(p.url, SEARCH, distinct.slice(0, DISTINCT_WARMUP), matrix.maxS);
      const samples = await searchEachOnce(p.url, SEARCH, distinct.slice(DISTINCT_WARMUP, DISTINCT_WARMUP + matrix.distinctN), matrix.maxS);
      for (const line of describeSamples(samples)) ctx.log(`    uncached (${at}) ${line}`);
      rows.push(...uncachedRows(db, size, samples));
      return rows;
    } finally {
      await p.stop();
    }
  } finally {
    await catalog.dispose();
  }
}

export const SEARCH_DESCRIBE = `Full-text product search through the gateway, \`products(search:, first: 10) { totalCount edges { node { id name price } } }\`, over generated products (SQLite FTS5 / PostgreSQL tsvector, seeded by the catalog store, kept between runs): on SQLite at ${SEARCH_PRODUCTS.toLocaleString("en")} products, 20 terms in turn (words, two-word queries, prefixes; the search cache's case) on 1 and 50 connections; then, on each database (\`SEARCH_DATABASES\`, default ${DEFAULT_SEARCH_DATABASES.join(" and ")}) at each size (\`SEARCH_SIZES\`, default ${DEFAULT_SEARCH_SIZES.map((n) => n.toLocaleString("en")).join(" and ")}), uncached: up to ${DEFAULT_DISTINCT_N.toLocaleString("en")} distinct terms of the catalog's vocabulary (\`SEARCH_DISTINCT_N\`), each once, one connection, at most ${DEFAULT_DISTINCT_MAX_S} s (\`SEARCH_DISTINCT_MAX_S\`).`;
