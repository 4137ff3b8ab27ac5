import type { ExecutionResult } from "graphql";
import { isAsyncIterable } from "graphql-yoga";
import type { CacheEntityRecord } from "@envelop/response-cache";
import { createInMemoryCache, useResponseCache, type Cache } from "@graphql-yoga/plugin-response-cache";
import { defaultBuildResponseCacheKey } from "@envelop/response-cache";
import type { Bus, Subscription } from "../../kernel/bus/types.ts";
import type { Logger } from "../../kernel/logger.ts";
import type { GatewayContext } from "../context.ts";
import type { GatewayPlugin, GatewayPluginOptions } from "./index.ts";

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
  { subject: "catalog.stock_changed", entities: (p) => (typeof p["productId"] === "string" ? [{ typename: "Product", id: p["productId"] }] : []) },
  {
    subject: "catalog.product_changed",
    entities: (p) => {
      if (typeof p["productId"] !== "string") return [];
      return p["change"] === "created" ? [{ typename: "Product" }, { typename: "ProductEdge" }] : [{ typename: "Product", id: p["productId"] }];
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

/** The in-memory cache behind a fixed reference, so that a swap can replace it whole. */
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
    return this.inner.invalidate(entities);
  }
}

interface CacheMetadata {
  hit?: boolean;
  didCache?: boolean;
  invalidatedEntities?: unknown[];
}

/**
 * The gateway's response cache: `@graphql-yoga/plugin-response-cache` (over
 * `@envelop/response-cache`, in-memory LRU of `max` entries) for public catalog reads.
 *
 * What is cached: query results without errors whose TTL is > 0. A result's TTL is the smallest
 * TTL of the types (or schema coordinates) it contains, from `ttls` (default `Product` 60 s,
 * `Category` 300 s, `Account` 0, `Order` 0); a result with none of them gets `ttlMs` (default 0:
 * not cached). So products, categories and search are cached; anything containing an account
 * or an order never is; mutations and introspection never are.
 *
 * Never across users: the key includes the caller (`identity.accountId` and roles; anonymous
 * callers share one session), the operation text, operation name, variables and the supergraph version.
 *
 * Invalidation: (1) a mutation drops the responses containing the entities it returns
 * (`Product:<id>` after `updateProduct`), on the gateway that ran it; (2) bus events
 * ({@link INVALIDATING_EVENTS}) drop entries on every gateway; (3) a supergraph swap empties the
 * cache. A read racing an invalidation can store a response fetched just before it; its TTL
 * bounds how long that lasts.
 *
 * Observability: hits, misses and stored responses are counted ({@link ResponseCache.stats},
 * {@link responseCacheTotals}); `extensions.responseCache` is shown only when `exposeMetadata`.
 * Cached responses carry an `ETag`; a request with `If-None-Match` of a live entry gets a 304.
 * Only operations over HTTP use the cache (queries sent over graphql-ws bypass it).
 */
export function createResponseCache(opts: ResponseCacheOptions): ResponseCache {
  const stats: ResponseCacheCounters = { hits: 0, misses: 0, stored: 0, invalidations: 0 };
  const totals = responseCacheTotals as ResponseCacheCounters;
  const count = (key: keyof ResponseCacheCounters): void => {
    stats[key]++;
    totals[key]++;
  };
  const cache = new SwappableCache(() => createInMemoryCache({ max: opts.max }));

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

  // Contexts of operations that went through yoga's HTTP pipeline (onParams, where the yoga
  // plugin computes the cache key). Operations executed through `yoga.getEnveloped` directly
  // (graphql-ws, ws.ts) have no key: the cache is bypassed for them instead of failing.
  const keyed = new WeakSet<object>();
  // HTTP requests seen by yoga (for the `If-None-Match` → 304 check, which runs before onParams).
  const viaHttp = new WeakSet<Request>();
  const markKeyed: GatewayPlugin = {
    onRequest({ request }) {
      viaHttp.add(request);
    },
    onParams({ context }) {
      keyed.add(context);
    },
  };

  const responseCache = useResponseCache<GatewayContext>({
    cache,
    enabled: (request, context) => keyed.has(context) || viaHttp.has(request),
    // The caller and its roles: a token with other roles (e.g. admin revoked) never sees responses
    // computed for the old ones.
    session: (_request, context) => (context.identity ? `${context.identity.accountId}|${[...context.identity.roles].sort().join(",")}` : null),
    ttl: opts.ttlMs,
    ttlPerSchemaCoordinate: { ...opts.ttls },
    // Always computed (the counters read it); removed below unless exposeMetadata.
    includeExtensionMetadata: true,
    buildResponseCacheKey: (params) => defaultBuildResponseCacheKey({ ...params, documentString: `${opts.schemaVersion() ?? "none"}\n${params.documentString}` }),
  });

  const observe: GatewayPlugin = {
    onExecutionResult({ result, setResult }) {
      if (!result || Array.isArray(result) || isAsyncIterable(result)) return;
      const extensions = (result as ExecutionResult).extensions as Record<string, unknown> | undefined;
      const meta = extensions?.["responseCache"] as CacheMetadata | undefined;
      if (!meta) return;
      if (meta.hit === true) count("hits");
      else if (meta.hit === false) {
        count("misses");
        if (meta.didCache) count("stored");
      }
      if (meta.invalidatedEntities?.length) count("invalidations");
      if (!opts.exposeMetadata) {
        const { extensions: _all, ...withoutExtensions } = result as ExecutionResult;
        const { responseCache: _meta, ...rest } = extensions as Record<string, unknown>;
        void _all, void _meta;
        setResult(Object.keys(rest).length ? { ...withoutExtensions, extensions: rest } : withoutExtensions);
      }
    },
  };

  return {
    plugin: {
      onPluginInit({ addPlugin }) {
        addPlugin(markKeyed);
        addPlugin(responseCache as GatewayPlugin);
        addPlugin(observe);
      },
    },
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
 * The gateway's response cache from its config (`RESPONSE_CACHE`, `RESPONSE_CACHE_MAX`,
 * `RESPONSE_CACHE_TTL_MS`, `RESPONSE_CACHE_TTLS`; metadata shown with `NODE_ENV=development`),
 * keyed by the manager's supergraph version and emptied on its swaps; stopped with the gateway.
 * Returns undefined when `RESPONSE_CACHE=false`.
 */
export function responseCacheFromConfig(opts: GatewayPluginOptions): ResponseCache | undefined {
  const { config, bus, logger } = opts.part;
  if (!config.responseCache) return undefined;
  const cache = createResponseCache({
    bus,
    logger,
    max: config.responseCacheMax,
    ttlMs: config.responseCacheTtlMs,
    ttls: config.responseCacheTtls,
    schemaVersion: () => opts.manager.status.current?.version ?? null,
    onSchemaSwap: (fn) => opts.manager.onChange(() => fn()),
    // Development only (the default NODE_ENV): not in production, and not under test runners
    // (NODE_ENV=test), whose exact-body assertions the metadata would disturb.
    exposeMetadata: config.nodeEnv === "development",
  });
  opts.onStop(() => cache.stop());
  return cache;
}
