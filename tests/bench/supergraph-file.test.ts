import { describe, expect, test } from "bun:test";
import { fixtureSupergraph, rewriteSupergraphUrls } from "../../bench/fixture/data.ts";
import { SupergraphFileError, staticSupergraph, supergraphSubgraphs } from "../../src/gateway/federation/static.ts";
import { ConfigError, loadConfig } from "../../src/config.ts";

describe("--supergraph file", () => {
  test("lists each join__graph with its URL", () => {
    expect(supergraphSubgraphs(fixtureSupergraph())).toEqual([
      { name: "accounts", url: "http://127.0.0.1:4200/accounts" },
      { name: "inventory", url: "http://127.0.0.1:4200/inventory" },
      { name: "products", url: "http://127.0.0.1:4200/products" },
      { name: "reviews", url: "http://127.0.0.1:4200/reviews" },
    ]);
    const bus = rewriteSupergraphUrls(fixtureSupergraph(), (n) => `bus://graphql.${n}`);
    expect(supergraphSubgraphs(bus).map((s) => s.url)).toEqual([
      "bus://graphql.accounts",
      "bus://graphql.inventory",
      "bus://graphql.products",
      "bus://graphql.reviews",
    ]);
    expect(Object.keys(staticSupergraph(bus).subgraphs)).toEqual(["accounts", "inventory", "products", "reviews"]);
  });

  test("rejects what is not a usable supergraph", () => {
    expect(() => supergraphSubgraphs("type Query { a: Int")).toThrow(SupergraphFileError);
    expect(() => supergraphSubgraphs("type Query { a: Int }")).toThrow("no join__Graph enum");
    const ftp = rewriteSupergraphUrls(fixtureSupergraph(), (n) => `ftp://x/${n}`);
    expect(() => supergraphSubgraphs(ftp)).toThrow(
      'subgraph accounts: url must be http(s)://... or bus://graphql.<name>, got "ftp://x/accounts"',
    );
  });

  test("SUPERGRAPH_FILE / --supergraph must name an existing file", () => {
    const parts = ["gateway"];
    expect(() => loadConfig(["--supergraph", "/nonexistent/supergraph.graphql"], {}, { parts })).toThrow(ConfigError);
    const r = loadConfig([], { SUPERGRAPH_FILE: `${import.meta.dir}/supergraph-file.test.ts` }, { parts });
    expect(r.help === false && r.config.supergraphFile).toBe(`${import.meta.dir}/supergraph-file.test.ts`);
  });
});
