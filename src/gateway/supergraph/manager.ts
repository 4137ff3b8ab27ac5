import type { GraphQLSchema } from "graphql";
import { getStitchedSchemaFromSupergraphSdl } from "@graphql-tools/federation";
import type { Bus } from "../../kernel/bus/types.ts";
import type { Logger } from "../../kernel/logger.ts";
import type { Registry, ServiceInstance } from "../../kernel/registry/types.ts";
import { createBusExecutor } from "../executor.ts";
import { composeSupergraph, type SubgraphSdl } from "./compose.ts";
import { fetchSubgraphSdl } from "./fetch-sdl.ts";

/** Observable state of the supergraph, for readiness and `/admin/supergraph`. */
export interface SupergraphStatus {
  /** Composed and executable; null until the first successful composition. */
  current: { version: number; sdl: string; subgraphs: string[]; composedAt: string } | null;
  /** Errors of the last failed attempt (cleared by a success), with subgraph names. */
  lastErrors: { message: string; subgraphs: string[] }[];
  /** Subgraph names currently registered. */
  registered: string[];
}

export interface SupergraphManagerOptions {
  bus: Bus;
  registry: Registry;
  logger: Logger;
  /** Per-request timeout to subgraphs, ms. */
  subgraphTimeoutMs: number;
  /** Coalesces bursts of registry changes (e.g. four modules starting), ms. Default 25. */
  debounceMs?: number;
}

/**
 * Keeps the gateway's executable schema in line with the registry: on every join, leave or
 * SDL change it fetches SDLs over the bus, composes, and when composition succeeds swaps in a
 * new stitched schema (`@graphql-tools/federation`) whose executors talk to the bus. A failed
 * composition keeps the last good schema. In-flight requests keep the schema they started with
 * (yoga resolves the schema once per request), so a swap never fails them.
 */
export class SupergraphManager {
  private schema: GraphQLSchema | null = null;
  private readonly sdlCache = new Map<string, { hash: string; sdl: string }>();
  private unwatch: (() => void) | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private version = 0;
  private readonly listeners = new Set<(s: SupergraphStatus) => void>();
  readonly status: SupergraphStatus = { current: null, lastErrors: [], registered: [] };

  constructor(private readonly opts: SupergraphManagerOptions) {}

  /** Starts watching the registry and performs a first composition. */
  async start(): Promise<void> {
    this.unwatch = this.opts.registry.watch(() => this.schedule());
    await this.refresh();
  }

  /** The current executable schema, or null before the first successful composition. */
  getSchema(): GraphQLSchema | null {
    return this.schema;
  }

  /** Calls `fn` after every refresh (successful or not). Returns an unsubscribe function. */
  onChange(fn: (s: SupergraphStatus) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  stop(): void {
    this.unwatch?.();
    clearTimeout(this.timer);
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), this.opts.debounceMs ?? 25);
  }

  /** Recomposes now (serialised: a call during a run triggers one more run after it). */
  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.compose();
      } while (this.again);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  private async compose(): Promise<void> {
    const log = this.opts.logger;
    const instances = await this.opts.registry.list();
    const byName = new Map<string, ServiceInstance>();
    for (const i of instances) if (i.sdlHash) byName.set(i.name, i);
    this.status.registered = [...byName.keys()].sort();
    const subgraphs: SubgraphSdl[] = [];
    const errors: SupergraphStatus["lastErrors"] = [];
    await Promise.all(
      [...byName.values()].map(async (inst) => {
        const cached = this.sdlCache.get(inst.name);
        if (cached && cached.hash === inst.sdlHash) return subgraphs.push({ name: inst.name, sdl: cached.sdl });
        try {
          const sdl = await fetchSubgraphSdl(this.opts.bus, inst.name, this.opts.subgraphTimeoutMs);
          this.sdlCache.set(inst.name, { hash: inst.sdlHash, sdl });
          subgraphs.push({ name: inst.name, sdl });
        } catch (err) {
          errors.push({ message: err instanceof Error ? err.message : String(err), subgraphs: [inst.name] });
        }
      }),
    );
    if (!errors.length && subgraphs.length) {
      if (this.schema && this.lastComposed === key(subgraphs)) {
        // Nothing changed that matters (e.g. a second instance of a module joined).
        this.status.lastErrors = [];
        for (const fn of this.listeners) fn(this.status);
        return;
      }
      const result = composeSupergraph(subgraphs);
      if (result.ok) {
        try {
          this.schema = this.buildSchema(result.supergraphSdl);
          this.lastComposed = key(subgraphs);
          this.status.current = { version: ++this.version, sdl: result.supergraphSdl, subgraphs: subgraphs.map((s) => s.name).sort(), composedAt: new Date().toISOString() };
          this.status.lastErrors = [];
          log.info({ version: this.version, subgraphs: this.status.current.subgraphs }, "supergraph composed");
        } catch (err) {
          errors.push({ message: `building the executable schema failed: ${err instanceof Error ? err.message : String(err)}`, subgraphs: subgraphs.map((s) => s.name) });
        }
      } else {
        errors.push(...result.errors);
      }
    }
    if (errors.length) {
      this.status.lastErrors = errors;
      for (const e of errors) log.error({ subgraphs: e.subgraphs }, `supergraph composition failed: ${e.message}`);
    }
    for (const fn of this.listeners) fn(this.status);
  }

  private lastComposed = "";

  private buildSchema(supergraphSdl: string): GraphQLSchema {
    return getStitchedSchemaFromSupergraphSdl({
      supergraphSdl,
      // Several fetches to the same subgraph in one plan step go out as one bus request.
      batch: true,
      onSubschemaConfig: (cfg) => {
        const name = cfg.endpoint.replace(/^bus:\/\/graphql\./, "");
        cfg.executor = createBusExecutor(this.opts.bus, name, this.opts.subgraphTimeoutMs);
      },
    });
  }
}

const key = (s: SubgraphSdl[]): string => s.map((x) => `${x.name}:${x.sdl.length}:${Bun.hash(x.sdl)}`).sort().join("|");
