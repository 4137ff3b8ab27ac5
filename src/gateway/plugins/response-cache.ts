import { OperationTypeNode, getOperationAST, type ExecutionArgs, type ExecutionResult } from "graphql";
import { isAsyncIterable } from "graphql-yoga";
import { createInMemoryCache, defaultBuildResponseCacheKey, type Cache, type CacheEntityRecord } from "@envelop/response-cache";
import { collectCacheEntities, unknownIdTag } from "./cache-entities.ts";
import type { Bus, Subscription } from "../../kernel/bus/types.ts";
import type { Logger } from "../../kernel/logger.ts";
import type { GatewayContext } from "../context.ts";
import type { GatewayPlugin, PluginSetup } from "./types.ts";

/**
 * Bus events that drop cached responses, on every gateway instance. Every durable event is also
 * a plain bus message on its subject (kernel/events/types.ts), so a core subscription (no queue
 * group) reaches each gateway, whichever module instance or gateway caused the change.
 * The gateway learns subjects as strings, like subgraphs: it imports no module.
 *
 * - `catalog.stock_changed` `{ productId }` → responses containing `Product:<productId>`.
 * - `catalog.product_changed` `{ productId, change }` → the same; for `change: "created"` every
 *   response with a product list (`Product`, and `ProductEdge` for lists that were empty), since
 *   the new product may belong to any of them.
 */
export const INVALIDATING_EVENTS: readonly { subject: string; entities(payload: Record<string, unknown>): CacheEntityRecord[] }[] = [
  {
    subject: "catalog.stock_changed",
    entities: (p) => (typeof p["productId"] === "string" ? [{ typename: "Product", id: p["productId"] }] : []),
  },
  {
    subject: "catalog.product_changed",
    entities: (p) => {
      if (typeof p["productId"] !== "string") return [];
      return p["change"] === "created"
        ? [{ typename: "Product" }, { typename: "ProductEdge" }]
        : [{ typename: "Product", id: p["productId"] }];
    },
  },
];

/** Counters of a response cache (or of all of them, {@link responseCacheTotals}); monotonic. */
export interface ResponseCacheCounters {
  /** Responses served from the cache. */
  hits: number;
  /** Queries executed because no cached response existed (cached afterwards or not). */
  misses: number;
  /** Of the misses, responses stored (cacheable: no error, TTL > 0). */
  stored: number;
  /** Invalidations applied (bus events, mutations' returned entities, supergraph swaps). */
  invalidations: number;
}

/**
 * Totals of every response cache of this process, for metrics (e.g. a prom-client counter whose
 * `collect()` reads them). Several gateways in one process (tests) add up.
 */
export const responseCacheTotals: Readonly<ResponseCacheCounters> = { hits: 0, misses: 0, stored: 0, invalidations: 0 };

/** Options of {@link createResponseCache}. */
export interface ResponseCacheOptions {
  /** Bus whose events invalidate entries ({@link INVALIDATING_EVENTS}). */
  bus: Bus;
  logger: Logger;
  /** Max cached responses (LRU), entries. */
  max: number;
  /** TTL of a response none of whose types has a TTL in `ttls`, ms (0: not cached). */
  ttlMs: number;
  /** TTL by type name or schema coordinate (`Product`, `Query.products`), ms; 0 = never cached. */
  ttls: Readonly<Record<string, number>>;
  /** The served supergraph's version (part of every key: a swapped schema never gets old shapes). */
  schemaVersion(): number | string | null;
  /** Subscribes to supergraph swaps (the cache is then emptied); returns an unsubscribe function. */
  onSchemaSwap(fn: () => void): () => void;
  /** Show `extensions.responseCache` (`{ hit, didCache, ttl }`) to clients: development only. */
  exposeMetadata: boolean;
}

/** A running response cache: its plugin, counters and controls. */
export interface ResponseCache {
  /** The yoga plugin; goes after persisted operations (the key needs the operation text). */
  readonly plugin: GatewayPlugin;
  /** This cache's counters. */
  readonly stats: Readonly<ResponseCacheCounters>;
  /** Drops the responses containing these entities (`{ typename }` = every entity of the type). */
  invalidate(entities: readonly CacheEntityRecord[]): Promise<void>;
  /** Drops everything (done on every supergraph swap). */
  clear(): void;
  /** Unsubscribes from the bus and from swaps. */
  stop(): void;
}

/**
 * The in-memory cache behind a fixed reference, so that a swap can replace it whole. Invalidating
 * `Type:id` also drops the responses that show an entity of `Type` without its id
 * ({@link unknownIdTag}): they may hold that very entity.
 */
class SwappableCache implements Cache {
  private inner: Cache;
  constructor(private readonly make: () => Cache) {
    this.inner = make();
  }
  reset(): void {
    this.inner = this.make();
  }
  get(id: string): ReturnType<Cache["get"]> {
    return this.inner.get(id);
  }
  set(id: string, data: ExecutionResult, entities: Iterable<CacheEntityRecord>, ttl: number): ReturnType<Cache["set"]> {
    return this.inner.set(id, data, entities, ttl);
  }
  invalidate(entities: Iterable<CacheEntityRecord>): ReturnType<Cache["invalidate"]> {
    const all: CacheEntityRecord[] = [];
    for (const e of entities) {
      all.push(e);
      if (e.id != null) all.push({ typename: unknownIdTag(e.typename) });
    }
    return this.inner.invalidate(all);
  }
}

/** `extensions.responseCache` (shown with `exposeMetadata`). */
interface CacheMetadata {
  hit: boolean;
  didCache?: boolean;
  ttl?: number;
  invalidatedEntities?: CacheEntityRecord[];
}

/** Introspection is never cached (as @envelop/response-cache does). */
const NEVER_CACHED: Readonly<Record<string, number>> = { "Query.__schema": 0, "Query.__type": 0 };

/**
 * The gateway's response cache for public catalog reads: an in-memory LRU of `max` entries
 * (`@envelop/response-cache`'s store) driven by this plugin.
 *
 * The cache never changes what is executed: the document is planned and sent to subgraphs exactly
 * as the client wrote it (no `__typename` / `id` selections are added, unlike
 * `@envelop/response-cache`'s plugin, whose additions changed federation plans: `@provides`,
 * null keys, abstract types). Which entities a result holds is read from the result itself with
 * the schema's types ({@link collectCacheEntities}).
 *
 * What is cached: query results without errors whose TTL is > 0. A result's TTL is the smallest
 * TTL of the types (or schema coordinates) it contains, from `ttls` (default `Product` 60 s,
 * `Category` 300 s, `Account` 0, `Order` 0); a result with none of them gets `ttlMs` (default 0:
 * not cached). So products, categories and search are cached; anything containing an account
 * or an order never is; mutations, subscriptions, introspection and incremental (`@defer`)
 * results never are.
 *
 * Never across users: the key includes the caller (`identity.accountId` and roles; anonymous
 * callers share one session), the operation text, operation name, variables and the supergraph version.
 *
 * Invalidation, only by what changed: (1) a mutation drops the responses containing the entities
 * its successful root fields returned with their id (`Product:<id>` after `updateProduct`), on
 * the gateway that ran it, before its response is sent (an entity returned without its id is
 * left to the bus event of the change, so no mutation, however cheap, can empty a whole type); a
 * root field that failed or was refused (null, or an error under it) invalidates nothing, so an
 * anonymous caller cannot empty the cache;
 * (2) bus events ({@link INVALIDATING_EVENTS}) drop entries on every gateway; (3) a supergraph swap
 * empties the cache. A read racing an invalidation can store a response fetched just before it;
 * its TTL bounds how long that lasts.
 *
 * Observability: hits, misses and stored responses are counted ({@link ResponseCache.stats},
 * {@link responseCacheTotals}); `extensions.responseCache` is shown only when `exposeMetadata`.
 * Cached responses carry an `ETag`; a request with `If-None-Match` of a live entry gets a 304.
 * Only queries over HTTP use the cache (queries sent over graphql-ws bypass it); mutations
 * invalidate whichever way they arrive.
 */
export function createResponseCache(opts: ResponseCacheOptions): ResponseCache {
  const stats: ResponseCacheCounters = { hits: 0, misses: 0, stored: 0, invalidations: 0 };
  const totals = responseCacheTotals as ResponseCacheCounters;
  const count = (key: keyof ResponseCacheCounters): void => {
    stats[key]++;
    totals[key]++;
  };
  const cache = new SwappableCache(() => createInMemoryCache({ max: opts.max }));
  const ttls: Readonly<Record<string, number>> = { ...opts.ttls, ...NEVER_CACHED };

  const invalidate = async (entities: readonly CacheEntityRecord[]): Promise<void> => {
    if (entities.length === 0) return;
    count("invalidations");
    await cache.invalidate(entities);
  };
  const subscriptions: Subscription[] = INVALIDATING_EVENTS.map(({ subject, entities }) =>
    opts.bus.subscribe(subject, async (msg) => {
      let payload: unknown;
      try {
        payload = msg.json();
      } catch {
        return opts.logger.warn({ subject }, "response cache: undecodable invalidation event ignored");
      }
      if (typeof payload !== "object" || payload === null) return;
      await invalidate(entities(payload as Record<string, unknown>));
    }),
  );
  const offSwap = opts.onSchemaSwap(() => {
    count("invalidations");
    cache.reset();
  });

  // Cache keys of operations that went through yoga's HTTP pipeline (computed in onParams, from
  // the operation text). Operations executed through `yoga.getEnveloped` directly (graphql-ws,
  // ws.ts) have none: they bypass the cache.
  const keys = new WeakMap<object, string>();
  const withMeta = (result: ExecutionResult, meta: CacheMetadata): ExecutionResult =>
    opts.exposeMetadata ? { ...result, extensions: { ...result.extensions, responseCache: meta } } : result;
  const session = (context: Partial<GatewayContext>): string | null =>
    context.identity ? `${context.identity.accountId}|${[...context.identity.roles].sort().join(",")}` : null;

  const plugin: GatewayPlugin = {
    // A client holding a live entry's ETag gets 304 Not Modified.
    // (Synchronous without the header: no promise on every request.)
    onRequest({ request, fetchAPI, endResponse }) {
      const etag = request.headers.get("if-none-match");
      if (!etag) return;
      return Promise.resolve(cache.get(etag)).then((cached) => {
        const lastModified = (cached?.extensions?.["http"] as { headers?: Record<string, string> } | undefined)?.headers?.["Last-Modified"];
        if (!lastModified) return;
        const since = request.headers.get("if-modified-since");
        if (since !== null && new Date(since).getTime() < new Date(lastModified).getTime()) return;
        endResponse(new fetchAPI.Response(null, { status: 304, headers: { ETag: etag, "Last-Modified": lastModified } }));
      });
    },
    async onParams({ params, context, setResult }) {
      // The caller and its roles are part of the key: a token with other roles (e.g. admin
      // revoked) never sees responses computed for the old ones.
      const key = await defaultBuildResponseCacheKey({
        documentString: `${opts.schemaVersion() ?? "none"}\n${params.query ?? ""}`,
        variableValues: params.variables ?? {},
        operationName: params.operationName ?? null,
        sessionId: session(context),
      });
      keys.set(context, key);
      const cached = await cache.get(key);
      if (!cached) return;
      count("hits");
      setResult(withMeta(cached, { hit: true }));
    },
    onExecute({ args }) {
      const op = getOperationAST(args.document, args.operationName);
      if (op?.operation === OperationTypeNode.MUTATION) {
        return {
          onExecuteDone({ result, setResult }) {
            if (isAsyncIterable(result)) return;
            const changed = changedEntities(args, result);
            if (changed.length === 0) return;
            void invalidate(changed);
            if (opts.exposeMetadata)
              setResult({ ...result, extensions: { ...result.extensions, responseCache: { invalidatedEntities: changed } } });
          },
        };
      }
      const key = keys.get(args.contextValue as object);
      if (op?.operation !== OperationTypeNode.QUERY || key === undefined) return;
      count("misses");
      return {
        onExecuteDone({ result, setResult }) {
          if (isAsyncIterable(result)) return;
          if (result.errors?.length || !result.data) return setResult(withMeta(result, { hit: false, didCache: false }));
          const { entities, ttl: found } = collectCacheEntities(
            args.schema,
            args.document,
            args.operationName,
            args.variableValues ?? undefined,
            result.data,
            { ttls },
          );
          const ttl = found ?? opts.ttlMs;
          if (ttl <= 0) return setResult(withMeta(result, { hit: false, didCache: false }));
          const http = { headers: { ETag: key, "Last-Modified": new Date().toUTCString() } };
          const stored: ExecutionResult = { ...result, extensions: { ...result.extensions, http } };
          void cache.set(key, stored, entities, ttl);
          count("stored");
          setResult(withMeta(stored, { hit: false, didCache: true, ttl }));
        },
      };
    },
  };

  return {
    plugin,
    stats,
    invalidate,
    clear: () => cache.reset(),
    stop() {
      offSwap();
      for (const s of subscriptions) s.unsubscribe();
    },
  };
}

/**
 * The entities a mutation changed: those its successful root fields returned. A root field that
 * is null or has an error at or under it (refused: UNAUTHENTICATED, FORBIDDEN; or failed) counts
 * for nothing.
 */
function changedEntities(args: ExecutionArgs, result: ExecutionResult): CacheEntityRecord[] {
  if (!result.data) return [];
  const failed = new Set((result.errors ?? []).map((e) => e.path?.[0]).filter((k) => k !== undefined));
  // An error without a path (e.g. the whole operation failed) leaves nothing to trust.
  if ((result.errors ?? []).some((e) => !e.path?.length)) return [];
  const succeeded: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(result.data)) if (v !== null && !failed.has(k)) succeeded[k] = v;
  return collectCacheEntities(args.schema, args.document, args.operationName, args.variableValues ?? undefined, succeeded, {
    changedOnly: true,
  }).entities;
}

/**
 * The gateway's response cache from its config (`RESPONSE_CACHE`, `RESPONSE_CACHE_MAX`,
 * `RESPONSE_CACHE_TTL_MS`, `RESPONSE_CACHE_TTLS`; metadata shown with `NODE_ENV=development`),
 * keyed by the manager's supergraph version and emptied on its swaps; stopped with the gateway.
 * Returns undefined when `RESPONSE_CACHE=false`.
 */
export function responseCacheFromConfig(opts: PluginSetup): ResponseCache | undefined {
  const { config, bus, logger } = opts.part;
  if (!config.responseCache) return undefined;
  const cache = createResponseCache({
    bus,
    logger,
    max: config.responseCacheMax,
    ttlMs: config.responseCacheTtlMs,
    ttls: config.responseCacheTtls,
    schemaVersion: () => opts.manager.current?.version ?? null,
    onSchemaSwap: (fn) => opts.manager.onChange(() => fn()),
    // Development only (the default NODE_ENV): not in production, and not under test runners
    // (NODE_ENV=test), whose exact-body assertions the metadata would disturb.
    exposeMetadata: config.nodeEnv === "development",
  });
  opts.onStop(() => cache.stop());
  return cache;
}
