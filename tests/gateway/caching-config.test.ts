/** Config of caching, persisted operations and subgraph timings: defaults and rejected values. */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig, type AppConfig as Config } from "../../src/config.ts";
import { parseTtls } from "../../src/kernel/config.ts";

const parts = ["account", "catalog", "order", "gateway"];
const load = (env: Record<string, string>): Config => {
  const r = loadConfig([], env, { parts });
  if (r.help) throw new Error("help");
  return r.config;
};

describe("caching config", () => {
  test("defaults", () => {
    const c = load({});
    expect(c.nodeEnv).toBe("production");
    expect(c.responseCache).toBe(true);
    expect(c.responseCacheMax).toBe(1000);
    expect(c.responseCacheTtlMs).toBe(0);
    expect(c.responseCacheTtls).toEqual({ Product: 60_000, Category: 300_000, Account: 0, Order: 0 });
    expect(c.persistedOperations).toBe("apq");
    expect(c.persistedOperationsFile).toBeUndefined();
    expect(c.apqMax).toBe(1000);
    expect(c.operationCacheMax).toBe(1000);
    // Production by default: timings are a development aid.
    expect(c.subgraphTimings).toBe(false);
  });

  test("subgraph timings default on only with NODE_ENV=development; explicit values win", () => {
    expect(load({ NODE_ENV: "development" }).subgraphTimings).toBe(true);
    expect(load({ NODE_ENV: "production" }).subgraphTimings).toBe(false);
    expect(load({ NODE_ENV: "test" }).subgraphTimings).toBe(false);
    expect(load({ NODE_ENV: "production", SUBGRAPH_TIMINGS: "true" }).subgraphTimings).toBe(true);
    expect(load({ NODE_ENV: "development", SUBGRAPH_TIMINGS: "off" }).subgraphTimings).toBe(false);
  });

  test("RESPONSE_CACHE_TTLS takes types and schema coordinates", () => {
    expect(parseTtls("Product=1000, Query.products=0")).toEqual({ Product: 1000, "Query.products": 0 });
    expect(parseTtls("")).toEqual({});
    expect(() => parseTtls("Product")).toThrow(ConfigError);
    expect(() => parseTtls("Product=-1")).toThrow(ConfigError);
    expect(() => parseTtls("Pro-duct=1")).toThrow(ConfigError);
    expect(() => parseTtls("Product=86400001")).toThrow(ConfigError);
  });

  test("bad values name the variable", () => {
    expect(() => load({ PERSISTED_OPERATIONS: "sometimes" })).toThrow(
      /PERSISTED_OPERATIONS: invalid value "sometimes"; allowed: off \| apq \| only/,
    );
    expect(() => load({ PERSISTED_OPERATIONS: "only" })).toThrow(/PERSISTED_OPERATIONS_FILE.*PERSISTED_OPERATIONS=only needs one/);
    expect(() => load({ PERSISTED_OPERATIONS_FILE: "/nonexistent/manifest.json" })).toThrow(/PERSISTED_OPERATIONS_FILE/);
    expect(() => load({ RESPONSE_CACHE_MAX: "0" })).toThrow(/RESPONSE_CACHE_MAX/);
    expect(() => load({ OPERATION_CACHE_MAX: "x" })).toThrow(/OPERATION_CACHE_MAX/);
    expect(() => load({ APQ_MAX: "0" })).toThrow(/APQ_MAX/);
    expect(() => load({ RESPONSE_CACHE: "maybe" })).toThrow(/RESPONSE_CACHE/);
    expect(() => load({ NODE_ENV: "pro duction" })).toThrow(/NODE_ENV/);
  });

  test("only mode with an existing manifest", () => {
    const dir = mkdtempSync(join(tmpdir(), "switchyard-cfg-"));
    try {
      const file = join(dir, "pq.json");
      writeFileSync(file, "{}");
      const c = load({ PERSISTED_OPERATIONS: "only", PERSISTED_OPERATIONS_FILE: file });
      expect(c.persistedOperations).toBe("only");
      expect(c.persistedOperationsFile).toBe(file);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
