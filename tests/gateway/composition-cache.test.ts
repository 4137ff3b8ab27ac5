import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { composeSupergraph } from "../../src/gateway/federation/compose.ts";
import { compositionKey, fileCompositionCache } from "../../src/gateway/federation/composition-cache.ts";

const dir = mkdtempSync(join(tmpdir(), "switchyard-ccache-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sdl = (field: string) => `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Query { ${field}: String }`;

describe("composition cache", () => {
  test("a hit returns exactly what was composed from the same subgraphs, in any order", () => {
    const cache = fileCompositionCache(join(dir, "a"), "engine@1");
    const subgraphs = [
      { name: "b", sdl: sdl("b") },
      { name: "a", sdl: sdl("a") },
    ];
    expect(cache.get(subgraphs)).toBeUndefined();
    const composed = composeSupergraph(subgraphs);
    if (!composed.ok) throw new Error("composition failed");
    cache.set(subgraphs, composed.supergraphSdl);
    expect(cache.get([...subgraphs].reverse())).toBe(composed.supergraphSdl);
  });

  test("another SDL, another subgraph name or another engine version is a miss", () => {
    const cache = fileCompositionCache(join(dir, "b"), "engine@1");
    cache.set([{ name: "a", sdl: sdl("a") }], "SUPERGRAPH");
    expect(cache.get([{ name: "a", sdl: sdl("x") }])).toBeUndefined();
    expect(cache.get([{ name: "z", sdl: sdl("a") }])).toBeUndefined();
    expect(fileCompositionCache(join(dir, "b"), "engine@2").get([{ name: "a", sdl: sdl("a") }])).toBeUndefined();
    expect(cache.get([{ name: "a", sdl: sdl("a") }])).toBe("SUPERGRAPH");
    expect(readdirSync(join(dir, "b")).every((f) => f.endsWith(".graphql"))).toBe(true);
  });

  test("a precomposed entry (the build's) answers for exactly its subgraphs and engine, without any file", () => {
    const subgraphs = [
      { name: "a", sdl: sdl("a") },
      { name: "b", sdl: sdl("b") },
    ];
    const precomposed = { [compositionKey("engine@1", subgraphs)]: "PRECOMPOSED" };
    const cache = fileCompositionCache(join(dir, "p"), "engine@1", precomposed);
    expect(cache.get([...subgraphs].reverse())).toBe("PRECOMPOSED");
    expect(cache.get([{ name: "a", sdl: sdl("a") }])).toBeUndefined();
    expect(fileCompositionCache(join(dir, "p"), "engine@2", precomposed).get(subgraphs)).toBeUndefined();
    expect(fileCompositionCache(join(dir, "p"), "engine@1").get(subgraphs)).toBeUndefined();
  });

  test("a cache that cannot write never throws; it stays cold", () => {
    const file = join(dir, "not-a-dir");
    writeFileSync(file, "x");
    const cache = fileCompositionCache(join(file, "sub"), "engine@1");
    expect(() => cache.set([{ name: "a", sdl: sdl("a") }], "S")).not.toThrow();
    expect(cache.get([{ name: "a", sdl: sdl("a") }])).toBeUndefined();
  });
});
