import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startProduct } from "../../bench/scenarios/product.ts";
import { CATALOG_GENERATOR, searchScenario } from "../../bench/scenarios/search.ts";
import { seedKey, seededCatalog } from "../../bench/scenarios/search-seed.ts";
import { searchEachOnce, searchMatrix } from "../../bench/scenarios/search-uncached.ts";
import { sharedDatabase } from "../../src/kernel/storage/resolve.ts";
import { openCatalogDatabase } from "../../src/modules/catalog/storage/store.ts";

/**
 * Smoke version of the search scenario's uncached workload (tiny catalogs, a short window) so
 * the harness does not rot: both databases through the gateway, a kept catalog reused by copy,
 * and the checks that make a wrong answer or a repeated term fail the run. Never timings.
 */
describe("search scenario, uncached workload (smoke)", () => {
  const SIZE = 2000;
  let cacheDir: string;
  beforeAll(() => {
    cacheDir = mkdtempSync(join(tmpdir(), "switchyard-bench-search-test-"));
  });
  afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

  test("measures distinct terms through the gateway on SQLite and PostgreSQL and keeps each catalog", async () => {
    const lines: string[] = [];
    const ctx = { log: (l: string) => void lines.push(l), durationS: 1, serverCpus: undefined, loadCpus: undefined };
    const env = { SEARCH_SIZES: String(SIZE), SEARCH_DATABASES: "sqlite,postgres", SEARCH_DISTINCT_N: "60", SEARCH_SEED_DIR: cacheDir };
    const result = await searchScenario(ctx, env);
    const rows = new Map(result.rows.map((r) => [r.metric, r.value]));
    for (const db of ["sqlite", "postgres"]) {
      const at = `(${db}, 2k)`;
      expect(rows.get(`uncached distinct terms measured ${at}`)).toBe(60);
      const [p50, p95, p99] = ["p50", "p95", "p99"].map((p) => rows.get(`uncached search ${p}, 1 connection ${at}`) ?? Number.NaN);
      expect(p50).toBeGreaterThan(0);
      expect(p95).toBeGreaterThanOrEqual(p50 as number);
      expect(p99).toBeGreaterThanOrEqual(p95 as number);
    }
    // The repeated-terms rows belong to 100,000 products only.
    expect(rows.has("search p95, 1 connection")).toBe(false);
    expect(readdirSync(cacheDir).sort()).toEqual(
      [seedKey("postgres", SIZE, CATALOG_GENERATOR.version), seedKey("sqlite", SIZE, CATALOG_GENERATOR.version)].sort(),
    );
  }, 120_000);

  test("a kept PostgreSQL catalog is reused by copy and holds every product", async () => {
    const catalog = await seededCatalog("postgres", SIZE, { generator: CATALOG_GENERATOR, cacheDir, log: () => {} });
    try {
      expect(catalog.built).toBe(false);
      const store = await openCatalogDatabase(sharedDatabase(catalog.databaseUrl as string, "catalog", 1));
      try {
        expect(await store.countProducts({})).toBe(SIZE);
        expect(await store.countProducts({ terms: ["kettle"] })).toBeGreaterThan(0);
      } finally {
        await store.close();
      }
    } finally {
      await catalog.dispose();
    }
  }, 60_000);

  test("a wrong answer or a repeated term fails the window", async () => {
    await expect(
      searchEachOnce(
        "http://127.0.0.1:1/graphql",
        "{ x }",
        [
          { q: "a", kind: "word" },
          { q: "a", kind: "word" },
        ],
        5,
      ),
    ).rejects.toThrow(RangeError);
    const p = await startProduct({});
    try {
      const query = "query($q: String!) { products(search: $q, first: 1) { totalCount } }";
      const ok = await searchEachOnce(p.url, query, [{ q: "kettle", kind: "word" }], 10);
      expect(ok.map((s) => s.q)).toEqual(["kettle"]);
      // Longer than the search's 200-character limit: a GraphQL error, which must fail the run.
      await expect(searchEachOnce(p.url, query, [{ q: "k".repeat(201), kind: "word" }], 10)).rejects.toThrow(/HTTP 200.*errors/);
    } finally {
      await p.stop();
    }
  }, 60_000);

  test("the knobs default to both sizes on both databases and reject bad values", () => {
    expect(searchMatrix({})).toEqual({ sizes: [100_000, 1_000_000], databases: ["sqlite", "postgres"], distinctN: 1000, maxS: 240 });
    expect(searchMatrix({ SEARCH_SIZES: "2000", SEARCH_DATABASES: "postgres" })).toMatchObject({ sizes: [2000], databases: ["postgres"] });
    for (const env of [
      { SEARCH_SIZES: "1e5x" },
      { SEARCH_SIZES: "0" },
      { SEARCH_SIZES: "100,100" },
      { SEARCH_DATABASES: "mysql" },
      { SEARCH_DISTINCT_N: "-1" },
    ])
      expect(() => searchMatrix(env)).toThrow(RangeError);
  });
});
