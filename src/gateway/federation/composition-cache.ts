import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { version as COMPOSITION_VERSION } from "@theguild/federation-composition/package.json";
import type { SubgraphSdl } from "./compose.ts";

/** The composition library and its version: part of every cache key (another version may compose differently). */
export const COMPOSITION_ENGINE = `@theguild/federation-composition@${COMPOSITION_VERSION}`;

/**
 * Successful compositions kept on disk, keyed by the exact subgraph SDLs: composition is the
 * biggest part of a cold start (~180 ms of ~630 ms for the four modules), and a restart with
 * unchanged modules would compose the very same supergraph again. Composition is a pure
 * function of the (name, SDL) pairs and the composition library's version, so both are the key.
 * Failures are never cached (they are cheap to redo and their errors must be reported).
 */
export interface CompositionCache {
  /** The supergraph SDL composed before from exactly these subgraphs, or undefined. */
  get(subgraphs: readonly SubgraphSdl[]): string | undefined;
  /** Remembers a successful composition. Never throws (a cache that cannot write is just cold). */
  set(subgraphs: readonly SubgraphSdl[], supergraphSdl: string): void;
}

/**
 * The cache key of a composition: sha256 (hex) of `engine` and the (name, SDL) pairs sorted by
 * name, so the order in which subgraphs registered does not matter.
 */
export function compositionKey(engine: string, subgraphs: readonly SubgraphSdl[]): string {
  const h = createHash("sha256").update(engine);
  for (const s of [...subgraphs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) h.update(`\0${s.name}\0${s.sdl}`);
  return h.digest("hex");
}

/**
 * Files `<dir>/<sha256>.graphql`; `engine` (library name@version) is part of the key.
 * @param precomposed supergraphs composed when the binary was built, by {@link compositionKey}
 *   (precomposed.ts): looked up before the files, so even a first start on an empty DATA_DIR
 *   skips composing the modules the binary was built with.
 */
export function fileCompositionCache(dir: string, engine: string, precomposed: Readonly<Record<string, string>> = {}): CompositionCache {
  const keyOf = (subgraphs: readonly SubgraphSdl[]): string => compositionKey(engine, subgraphs);
  return {
    get(subgraphs) {
      const key = keyOf(subgraphs);
      if (Object.hasOwn(precomposed, key)) return precomposed[key];
      try {
        return readFileSync(join(dir, `${key}.graphql`), "utf8");
      } catch {
        return undefined;
      }
    },
    set(subgraphs, supergraphSdl) {
      try {
        mkdirSync(dir, { recursive: true });
        const file = join(dir, `${keyOf(subgraphs)}.graphql`);
        // Write then rename: a crash mid-write never leaves a truncated supergraph behind.
        writeFileSync(`${file}.tmp`, supergraphSdl);
        renameSync(`${file}.tmp`, file);
      } catch {
        // read-only or full disk: compose every time
      }
    },
  };
}
