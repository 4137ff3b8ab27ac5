import type { GraphQLSchema } from "graphql";
import { getStitchedSchemaFromSupergraphSdl } from "@graphql-tools/federation";
import type { Bus } from "../../kernel/bus/types.ts";
import type { Logger } from "../../kernel/logger.ts";
import type { StoredSupergraph, SupergraphStore } from "../../kernel/supergraph/types.ts";
import { createBusExecutor } from "../executor.ts";
import type { CompositionIssue } from "./composer.ts";

/** Observable state of the supergraph, for readiness and `/admin/supergraph`. */
export interface SupergraphStatus {
  /** The supergraph this gateway executes; null until one was loaded. */
  current: { version: number; sdl: string; subgraphs: string[]; composedAt: string } | null;
  /** Errors of the aggregator's last attempt (only known where the aggregator runs). */
  lastErrors: CompositionIssue[];
  /** Subgraph names registered at the aggregator's last attempt. */
  registered: string[];
  /** Whether this gateway is the elected aggregator. */
  aggregator: boolean;
}

export interface SupergraphManagerOptions {
  bus: Bus;
  store: SupergraphStore;
  logger: Logger;
  /** Per-request timeout to subgraphs, ms. */
  subgraphTimeoutMs: number;
}

/**
 * Serves the stored supergraph: loads `current` from the store at start (so a restarted
 * gateway serves at once, before any composition), watches it, and builds a new executable
 * schema (`@graphql-tools/federation`, one bus executor per subgraph) for every new version.
 * In-flight requests keep the schema they started with (yoga resolves it once per request),
 * so a swap never fails them. A version that cannot be built keeps the previous schema.
 */
export class SupergraphManager {
  private schema: GraphQLSchema | null = null;
  private stopWatch: (() => void) | undefined;
  private readonly listeners = new Set<(s: SupergraphStatus) => void>();
  readonly status: SupergraphStatus = { current: null, lastErrors: [], registered: [], aggregator: false };

  constructor(private readonly opts: SupergraphManagerOptions) {}

  /** Loads the current supergraph (if any) and starts watching for new versions. */
  async start(): Promise<void> {
    this.stopWatch = this.opts.store.watch((s) => this.load(s));
    const current = await this.opts.store.current();
    if (current) this.load(current);
  }

  stop(): void {
    this.stopWatch?.();
  }

  /** The executable schema, or null before the first supergraph was loaded. */
  getSchema(): GraphQLSchema | null {
    return this.schema;
  }

  /** Calls `fn` after every swap. Returns an unsubscribe function. */
  onChange(fn: (s: SupergraphStatus) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private load(s: StoredSupergraph): void {
    if (this.status.current && this.status.current.version >= s.version) return;
    try {
      this.schema = getStitchedSchemaFromSupergraphSdl({
        supergraphSdl: s.sdl,
        // Several fetches to the same subgraph in one plan step go out as one bus request.
        batch: true,
        onSubschemaConfig: (cfg) => {
          const name = cfg.endpoint.replace(/^bus:\/\/graphql\./, "");
          cfg.executor = createBusExecutor(this.opts.bus, name, this.opts.subgraphTimeoutMs);
        },
      });
    } catch (err) {
      this.opts.logger.error({ err, version: s.version }, "supergraph could not be loaded; keeping the previous one");
      return;
    }
    this.status.current = { version: s.version, sdl: s.sdl, subgraphs: Object.keys(s.subgraphs).sort(), composedAt: s.composedAt };
    this.opts.logger.info({ version: s.version, subgraphs: this.status.current.subgraphs }, "supergraph loaded");
    for (const fn of this.listeners) fn(this.status);
  }
}
