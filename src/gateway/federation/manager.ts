import type { GraphQLSchema } from "graphql";
import { getStitchedSchemaFromSupergraphSdl } from "@graphql-tools/federation";
import type { Executor } from "@graphql-tools/utils";
import type { Bus } from "../../kernel/bus/types.ts";
import type { BusIdentity } from "../../kernel/bus-identity.ts";
import type { Logger } from "../../kernel/logger.ts";
import type { StoredSupergraph, SupergraphStore } from "../../kernel/supergraph-store/types.ts";
import { createBusExecutor } from "../executor.ts";
import { OpenSubscriptions, withBusSubscriptions } from "../subscription-executor.ts";
import { createHttpSubgraphExecutor } from "../http-executor.ts";
import { withDeduplication } from "../dedup.ts";
import { createRustPlannedExecutor, type QueryPlannerKind } from "./query-planner.ts";

/** The supergraph a gateway executes (see {@link SupergraphManager.current}). */
export interface LoadedSupergraph {
  version: number;
  /** The supergraph SDL as stored. */
  sdl: string;
  /** Subgraph names, sorted. */
  subgraphs: string[];
  /** ISO 8601 time of the composition. */
  composedAt: string;
}

export interface SupergraphManagerOptions {
  bus: Bus;
  store: SupergraphStore;
  logger: Logger;
  /** Per-request timeout to subgraphs, ms. */
  subgraphTimeoutMs: number;
  /** Heartbeat of subscription streams to subgraphs, ms (default 5000). */
  subscriptionHeartbeatMs?: number;
  /**
   * Runtime of queries and mutations (`QUERY_PLANNER`); see query-planner.ts. `js` when omitted
   * (the gateway part always passes the config's value, `rust` by default).
   */
  queryPlanner?: QueryPlannerKind;
  /** Signs the caller identity forwarded to subgraphs (the kernel's `busIdentity`). */
  identity: BusIdentity;
  /**
   * Identical query fetches in flight to one subgraph share one execution (`SUBGRAPH_DEDUP`,
   * see dedup.ts), for bus and HTTP subgraphs alike; true when omitted.
   */
  dedup?: boolean;
}

/**
 * Serves the stored supergraph: loads `current` from the store at start (so a restarted
 * gateway serves at once, before any composition), watches it, and builds a new executable
 * schema (`@graphql-tools/federation`, one bus executor per subgraph) for every new version.
 * In-flight requests keep the schema they started with (yoga resolves it once per request),
 * so a swap never fails them. A version that cannot be built keeps the previous schema.
 *
 * With `queryPlanner: "rust"` each version also gets a Rust-planned executor over the same
 * subgraph executors ({@link getPlannedExecutor}); the version is swapped in only once both are
 * built (the planner loads asynchronously), and one that the planner rejects is not swapped in.
 */
export class SupergraphManager {
  private schema: GraphQLSchema | null = null;
  // Rust-planned executor of each served schema (QUERY_PLANNER=rust), freed with the schema.
  private readonly planned = new WeakMap<GraphQLSchema, Executor>();
  private stopWatch: (() => void) | undefined;
  private readonly listeners = new Set<(s: LoadedSupergraph) => void>();
  private loaded: LoadedSupergraph | null = null;
  /** Subscriptions open through this gateway, across supergraph versions (ended on shutdown). */
  readonly subscriptions = new OpenSubscriptions();

  constructor(private readonly opts: SupergraphManagerOptions) {}

  /** Loads the current supergraph (if any) and starts watching for new versions. */
  async start(): Promise<void> {
    this.stopWatch = this.opts.store.watch((s) => void this.load(s));
    const current = await this.opts.store.current();
    if (current) await this.load(current);
  }

  stop(): void {
    this.stopWatch?.();
  }

  /**
   * The supergraph this gateway executes; null until one was loaded. The manager is its only
   * owner (composition attempts are the composer's, federation/status.ts puts both together).
   */
  get current(): LoadedSupergraph | null {
    return this.loaded;
  }

  /** The executable schema, or null before the first supergraph was loaded. */
  getSchema(): GraphQLSchema | null {
    return this.schema;
  }

  /**
   * The Rust-planned executor of the supergraph version whose schema is `schema`; undefined with
   * `QUERY_PLANNER=js` or for a schema this manager did not build.
   */
  getPlannedExecutor(schema: GraphQLSchema): Executor | undefined {
    return this.planned.get(schema);
  }

  /** Calls `fn` after every swap. Returns an unsubscribe function. */
  onChange(fn: (s: LoadedSupergraph) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Serves a fixed supergraph (a `--supergraph` file) without watching the store. With the js
   * planner the schema is swapped in before this returns (the promise is already settled).
   * @throws Error (rejects) when the executable schema or its query planner cannot be built from it.
   */
  async loadStatic(s: StoredSupergraph): Promise<void> {
    if (!(await this.load(s))) throw new Error("supergraph file could not be loaded (see the log line before)");
  }

  /**
   * Builds and swaps in `s`; false when it is not newer or cannot be built (previous kept).
   * Synchronous up to the swap with the js planner; with the rust planner the swap waits for the
   * planner, and a newer version swapped in meanwhile wins.
   */
  private load(s: StoredSupergraph): Promise<boolean> {
    if (this.loaded && this.loaded.version >= s.version) return Promise.resolve(false);
    let schema: GraphQLSchema;
    // Subgraph executors by name, shared by the stitching runtime and the Rust-planned executor.
    const executors = new Map<string, Executor>();
    // Both runtimes (stitching and Rust-planned) fetch through these executors: one place for it.
    const dedup = (executor: Executor, name: string): Executor =>
      this.opts.dedup === false ? executor : withDeduplication(executor, name);
    try {
      schema = getStitchedSchemaFromSupergraphSdl({
        supergraphSdl: s.sdl,
        // Several fetches to the same subgraph in one plan step go out as one bus request.
        batch: true,
        onSubschemaConfig: (cfg) => {
          // http(s):// subgraphs (a --supergraph file federating external services) over HTTP;
          // everything else is a module reached over the bus at bus://graphql.<name>.
          if (/^https?:\/\//.test(cfg.endpoint)) {
            cfg.executor = dedup(
              createHttpSubgraphExecutor(cfg.endpoint, cfg.name, this.opts.subgraphTimeoutMs, this.opts.logger),
              cfg.name,
            );
            executors.set(cfg.name, cfg.executor);
            return;
          }
          const name = cfg.endpoint.replace(/^bus:\/\/graphql\./, "");
          const requests = dedup(createBusExecutor(this.opts.bus, name, this.opts.subgraphTimeoutMs, this.opts.identity), name);
          executors.set(cfg.name, requests);
          // Subscriptions: bus streams (subscription-executor.ts); the rest: bus request/reply.
          cfg.executor = withBusSubscriptions(requests, this.opts.bus, name, {
            timeoutMs: this.opts.subgraphTimeoutMs,
            open: this.subscriptions,
            identity: this.opts.identity,
            ...(this.opts.subscriptionHeartbeatMs !== undefined ? { heartbeatMs: this.opts.subscriptionHeartbeatMs } : {}),
          });
        },
      });
    } catch (err) {
      this.opts.logger.error({ err, version: s.version }, "supergraph could not be loaded; keeping the previous one");
      return Promise.resolve(false);
    }
    if (this.opts.queryPlanner !== "rust") return Promise.resolve(this.swap(s, schema));
    return createRustPlannedExecutor(s.sdl, executors).then(
      (executor) => {
        if (this.loaded && this.loaded.version >= s.version) return false;
        this.planned.set(schema, executor);
        return this.swap(s, schema);
      },
      (err: unknown) => {
        this.opts.logger.error({ err, version: s.version }, "query planner rejected the supergraph; keeping the previous one");
        return false;
      },
    );
  }

  private swap(s: StoredSupergraph, schema: GraphQLSchema): boolean {
    this.schema = schema;
    const loaded = { version: s.version, sdl: s.sdl, subgraphs: Object.keys(s.subgraphs).sort(), composedAt: s.composedAt };
    this.loaded = loaded;
    this.opts.logger.info({ version: s.version, subgraphs: loaded.subgraphs }, "supergraph loaded");
    for (const fn of this.listeners) fn(loaded);
    return true;
  }
}
