import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { parse } from "graphql";
import { useAPQ, type APQStore } from "@graphql-yoga/plugin-apq";
import { usePersistedOperations } from "@graphql-yoga/plugin-persisted-operations";
import { Lru } from "../../kernel/subgraph/lru.ts";
import type { GatewayConfig } from "../options.ts";
import type { GatewayPlugin } from "./types.ts";

/** `PERSISTED_OPERATIONS`: how the gateway treats operations sent by hash. */
export type PersistedOperationsMode = "off" | "apq" | "only";

/** Error codes (in `extensions.code`) of persisted operations. */
export const PersistedOperationCode = {
  /** The hash is not known (APQ: not registered yet, or evicted: send query + hash; `only`: not in the manifest). HTTP 404. */
  NOT_FOUND: "PERSISTED_QUERY_NOT_FOUND",
  /** `only` mode: an operation was sent as text (or without any hash). HTTP 400. */
  ONLY: "PERSISTED_QUERY_ONLY",
  /** APQ: the query sent does not hash to the given `sha256Hash`. HTTP 400. */
  MISMATCH: "PERSISTED_QUERY_MISMATCH",
} as const;

/** Thrown by {@link loadPersistedOperationsManifest} for a file it cannot use; the message names the file and the problem. */
export class ManifestError extends Error {
  override readonly name = "ManifestError";
}

/**
 * A bounded APQ store (LRU over {@link Lru}): a client registering endless unique operations
 * evicts the least recently used ones instead of growing memory. An evicted hash answers
 * `PERSISTED_QUERY_NOT_FOUND` again, and APQ clients then re-send the query (the protocol's
 * normal path), so eviction costs one round trip, never an error seen by the user.
 */
export class LruApqStore implements APQStore {
  private readonly lru: Lru<string, string>;
  /** @param max entries kept (`APQ_MAX`); >= 1, else `RangeError`. */
  constructor(max: number) {
    this.lru = new Lru(max);
  }
  get(key: string): string | undefined {
    return this.lru.get(key);
  }
  set(key: string, query: string): void {
    this.lru.set(key, query);
  }
  /** Number of registered operations. */
  get size(): number {
    return this.lru.size;
  }
}

/** sha256 of a string, lowercase hex: the APQ / Apollo manifest id of an operation body. */
export const sha256Hex = (s: string): string => createHash("sha256").update(s, "utf8").digest("hex");

/**
 * Reads the allow-list of `PERSISTED_OPERATIONS=only` from a JSON file in either format:
 *
 * - a map `{ "<sha256 hex>": "<operation text>", ... }`;
 * - Apollo's persisted query manifest (`@apollo/generate-persisted-query-manifest`):
 *   `{ "format": "apollo-persisted-query-manifest", "version": 1,
 *      "operations": [{ "id": "<sha256 hex>", "body": "<operation text>", "name": "...", "type": "query" }] }`.
 *
 * Every operation must parse, and an id made of 64 hex digits must be the sha256 of its body
 * (as APQ clients compute it); other ids (e.g. a build's own ids) are kept as they are.
 * @returns operation text by id.
 * @throws ManifestError when the file is missing, not JSON, in neither format, or an entry is invalid.
 */
export function loadPersistedOperationsManifest(path: string): Map<string, string> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ManifestError(`persisted operations manifest ${path}: ${(err as Error).message}`);
  }
  const entries: [string, unknown][] = [];
  if (isApolloManifest(raw)) {
    for (const op of raw.operations) entries.push([typeof op?.id === "string" ? op.id : "", op?.body]);
  } else if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
    entries.push(...Object.entries(raw));
  } else {
    throw new ManifestError(
      `persisted operations manifest ${path}: expected { "<sha256>": "<query>" } or an Apollo persisted query manifest`,
    );
  }
  const out = new Map<string, string>();
  for (const [id, body] of entries) {
    if (!id || typeof body !== "string" || !body.trim())
      throw new ManifestError(`persisted operations manifest ${path}: entry "${id}" needs an id and a non-empty operation text`);
    if (/^[0-9a-f]{64}$/i.test(id) && sha256Hex(body) !== id.toLowerCase()) {
      throw new ManifestError(`persisted operations manifest ${path}: entry "${id}" is not the sha256 of its operation text`);
    }
    try {
      parse(body);
    } catch (err) {
      throw new ManifestError(`persisted operations manifest ${path}: entry "${id}" does not parse: ${(err as Error).message}`);
    }
    out.set(/^[0-9a-f]{64}$/i.test(id) ? id.toLowerCase() : id, body);
  }
  return out;
}

interface ApolloManifest {
  format: "apollo-persisted-query-manifest";
  operations: { id?: unknown; body?: unknown }[];
}
const isApolloManifest = (v: unknown): v is ApolloManifest =>
  typeof v === "object" &&
  v !== null &&
  (v as { format?: unknown }).format === "apollo-persisted-query-manifest" &&
  Array.isArray((v as { operations?: unknown }).operations);

/** Options of {@link usePersistedOperationsMode}. */
export interface PersistedOperationsOptions {
  mode: PersistedOperationsMode;
  /** `apq`: the bounded store of registered operations. */
  apqStore?: APQStore;
  /** `only`: the allow-list, operation text by id (see {@link loadPersistedOperationsManifest}). */
  manifest?: ReadonlyMap<string, string>;
}

/**
 * Persisted operations, by `PERSISTED_OPERATIONS` mode (the plugin must come before the
 * response cache, whose key needs the operation text):
 *
 * - `apq` (default): Apollo's Automatic Persisted Queries with `@graphql-yoga/plugin-apq`. A
 *   request with `extensions.persistedQuery: { version: 1, sha256Hash }` and no `query` runs
 *   the registered operation, or fails with `PERSISTED_QUERY_NOT_FOUND` (HTTP 404); the client
 *   then sends `query` + hash once, which registers it (`PERSISTED_QUERY_MISMATCH`, HTTP 400,
 *   when the hash is wrong). Works over POST and GET (`?extensions=...`, queries only).
 *   Operations sent as plain text keep working.
 * - `only`: an allow-list with `@graphql-yoga/plugin-persisted-operations`: only the manifest's
 *   operations run, sent by hash as in APQ (`extensions.persistedQuery.sha256Hash` = the
 *   manifest id). An unknown hash fails with `PERSISTED_QUERY_NOT_FOUND` (HTTP 404); any
 *   operation text (with or without hash), or a request without hash, fails with
 *   `PERSISTED_QUERY_ONLY` (HTTP 400). Nothing is registered at run time.
 * - `off`: returns undefined (no plugin).
 * @throws Error when `only` has no manifest or `apq` no store.
 */
export function usePersistedOperationsMode(opts: PersistedOperationsOptions): GatewayPlugin | undefined {
  if (opts.mode === "off") return undefined;
  if (opts.mode === "apq") {
    if (!opts.apqStore) throw new Error("persisted operations: apq mode needs a store");
    return useAPQ({ store: opts.apqStore }) as GatewayPlugin;
  }
  const manifest = opts.manifest;
  if (!manifest) throw new Error("persisted operations: only mode needs a manifest (PERSISTED_OPERATIONS_FILE)");
  const onlyError = {
    message:
      "PersistedQueryOnly: this gateway runs only persisted operations; send extensions.persistedQuery.sha256Hash of a listed operation",
    extensions: { code: PersistedOperationCode.ONLY, http: { status: 400 } },
  };
  return usePersistedOperations<Record<string, unknown>>({
    getPersistedOperation: (key) => manifest.get(key.toLowerCase()) ?? manifest.get(key) ?? null,
    allowArbitraryOperations: false,
    customErrors: {
      notFound: { message: "PersistedQueryNotFound", extensions: { code: PersistedOperationCode.NOT_FOUND, http: { status: 404 } } },
      persistedQueryOnly: onlyError,
      keyNotFound: onlyError,
    },
  }) as unknown as GatewayPlugin;
}

/**
 * The persisted operations plugin from the gateway's config (`PERSISTED_OPERATIONS`,
 * `PERSISTED_OPERATIONS_FILE`, `APQ_MAX`); undefined when `off`.
 * @throws ManifestError when the `only` manifest cannot be used (the gateway does not start).
 */
export function persistedOperationsFromConfig(
  config: Pick<GatewayConfig, "persistedOperations" | "persistedOperationsFile" | "apqMax">,
): GatewayPlugin | undefined {
  const mode = config.persistedOperations;
  if (mode === "only" && !config.persistedOperationsFile)
    throw new ManifestError("PERSISTED_OPERATIONS=only needs PERSISTED_OPERATIONS_FILE");
  return usePersistedOperationsMode({
    mode,
    ...(mode === "apq" ? { apqStore: new LruApqStore(config.apqMax) } : {}),
    ...(mode === "only" && config.persistedOperationsFile
      ? { manifest: loadPersistedOperationsManifest(config.persistedOperationsFile) }
      : {}),
  });
}
