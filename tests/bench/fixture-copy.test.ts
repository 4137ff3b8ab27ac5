import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const VENDORED = join(ROOT, "bench/fixture/gateways-benchmark");
const SHARED = resolve(ROOT, "../shared/bench/gateways-benchmark");

describe("gateways-benchmark fixture copy", () => {
  test("the repo's copy has every fixture file", () => {
    for (const f of [
      "supergraph.graphql",
      "query.graphql",
      "expected-response.json",
      "data.json",
      "accounts.graphql",
      "inventory.graphql",
      "products.graphql",
      "reviews.graphql",
    ]) {
      expect(existsSync(join(VENDORED, f))).toBe(true);
    }
  });

  // ../shared is beside the developers' checkout, not in a clean clone: skipped (and reported) there.
  test.skipIf(!existsSync(SHARED))("it equals ../shared's fixture wherever that is present (no drift)", () => {
    for (const f of readdirSync(SHARED)) expect(readFileSync(join(VENDORED, f), "utf8")).toBe(readFileSync(join(SHARED, f), "utf8"));
  });
});
