import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newId } from "../../src/kernel/ids.ts";
import { openCatalogDatabase } from "../../src/modules/catalog/storage/store.ts";
import type { NewCategory } from "../../src/modules/catalog/storage/types.ts";
import type { ScenarioResult } from "../lib/report.ts";
import type { ScenarioContext } from "./index.ts";
import { loadGraphql, startProduct } from "./product.ts";

/** Products generated for the search scenario. */
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

/**
 * The `search` scenario: 100,000 generated products written into the catalog's SQLite file
 * (the store's own bulk seed, FTS5 index maintained by its triggers), then the product
 * started on it and `products(search:, first: 10)` with totalCount measured through the
 * gateway: one connection (the latency goal) and 50 connections (throughput).
 */
export async function searchScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const dataDir = mkdtempSync(join(tmpdir(), "switchyard-bench-search-"));
  try {
    const t0 = performance.now();
    const store = await openCatalogDatabase({ kind: "sqlite", path: join(dataDir, "catalog.sqlite") });
    const inserted = await store.seedIfEmpty(generateCatalog(SEARCH_PRODUCTS));
    await store.close();
    ctx.log(`  search: ${inserted} products generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const p = await startProduct({ dataDir, serverCpus: ctx.serverCpus, profileName: "search" });
    try {
      const { products } = await p.gql<{ products: { totalCount: number } }>("{ products(first: 1) { totalCount } }");
      if (products.totalCount < SEARCH_PRODUCTS)
        throw new Error(`catalog has ${products.totalCount} products, expected ${SEARCH_PRODUCTS}`);
      const bodies = SEARCH_TERMS.map((q) => JSON.stringify({ query: SEARCH, variables: { q } }));
      const load = { url: p.url, bodies, mustContain: '"totalCount":', loadCpus: ctx.loadCpus };
      await loadGraphql({ ...load, connections: 10, durationS: Math.min(2, ctx.durationS), what: "search warm-up" });
      const one = await loadGraphql({ ...load, connections: 1, durationS: ctx.durationS, what: "search, 1 connection" });
      const many = await loadGraphql({ ...load, connections: 50, durationS: ctx.durationS, what: "search, 50 connections" });
      // Uncached: distinct terms from the catalog's vocabulary, none of the 20 above, none
      // repeated (one connection serves far fewer than 5,000 searches in the run), so every
      // search ranks and counts in the database, as the long tail of real traffic does.
      const repeated = new Set(SEARCH_TERMS);
      const distinct = distinctSearchTerms(5000 + SEARCH_TERMS.length).filter((t) => !repeated.has(t.q));
      const uncached = await loadGraphql({
        ...load,
        bodies: distinct.map((t) => JSON.stringify({ query: SEARCH, variables: { q: t.q } })),
        connections: 1,
        durationS: ctx.durationS,
        what: "search, distinct terms, 1 connection",
      });
      return {
        name: "search",
        describe: SEARCH_DESCRIBE,
        rows: [
          { metric: "products in catalog", value: products.totalCount, unit: "" },
          { metric: "search p50, 1 connection", value: one.p50Ms, unit: "ms" },
          { metric: "search p95, 1 connection", value: one.p95Ms, unit: "ms", goal: "≤ 5 ms", met: one.p95Ms <= 5 },
          { metric: "search p99, 1 connection", value: one.p99Ms, unit: "ms" },
          { metric: "search/s, 50 connections", value: many.rps, unit: "req/s" },
          { metric: "search p95, 50 connections", value: many.p95Ms, unit: "ms" },
          { metric: "uncached search p50 (distinct terms), 1 connection", value: uncached.p50Ms, unit: "ms" },
          {
            metric: "uncached search p95 (distinct terms), 1 connection",
            value: uncached.p95Ms,
            unit: "ms",
            goal: "≤ 10 ms",
            met: uncached.p95Ms <= 10,
          },
        ],
      };
    } finally {
      await p.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export const SEARCH_DESCRIBE = `Full-text product search (SQLite FTS5, bm25) through the gateway over ${SEARCH_PRODUCTS.toLocaleString("en")} generated products: \`products(search:, first: 10) { totalCount edges { node { id name price } } }\`, 20 terms in turn (words, two-word queries, prefixes); then uncached: distinct terms of the catalog's vocabulary, never repeated, one connection.`;
