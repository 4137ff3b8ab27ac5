import type { Bus } from "../../kernel/bus/types.ts";
import { encodeJson } from "../../kernel/bus/codec.ts";
import type { Logger } from "../../kernel/logger.ts";
import { BackoffSchedule } from "../../kernel/policy/index.ts";
import type { Registry, ServiceInstance } from "../../kernel/registry/types.ts";
import type { SupergraphStore } from "../../kernel/supergraph-store/types.ts";
import type { ComposeResult, SubgraphSdl } from "./compose.ts";
import type { CompositionCache } from "./composition-cache.ts";
import { fetchSubgraphSdl } from "./fetch-sdl.ts";

/** Bus subject announcing a newly stored supergraph: `{ version, subgraphs }`. */
export const SUPERGRAPH_UPDATED = "switchyard.supergraph.updated";

/** A composition problem, with the subgraphs it concerns. */
export interface CompositionIssue {
  message: string;
  subgraphs: string[];
}

export interface ComposerOptions {
  bus: Bus;
  registry: Registry;
  store: SupergraphStore;
  logger: Logger;
  /** Timeout of each `_service { sdl }` fetch, ms. */
  sdlTimeoutMs: number;
  /** Coalesces bursts of registry changes, ms. Default 25. */
  debounceMs?: number;
  /** Successful compositions from earlier runs (skips composing unchanged subgraphs again). */
  cache?: CompositionCache;
}

/**
 * The aggregator: watches the registry and, on any join, leave or SDL change, fetches every
 * registered subgraph's SDL over the bus, composes, and when composition succeeds and the
 * result differs from the stored one, stores it as a new version and announces it on
 * {@link SUPERGRAPH_UPDATED}. Failed compositions never replace the stored supergraph; their
 * errors (with subgraph names) are kept in {@link lastErrors} and logged.
 * Only the elected aggregator runs one of these (see gateway/index.ts).
 */
export class SupergraphComposer {
  private readonly sdlCache = new Map<string, { hash: string; sdl: string }>();
  /** Subgraphs composed before whose instances are all gone (kept with their last SDL). */
  private down = new Set<string>();
  private unwatch: (() => void) | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /**
   * Delays between attempts whose SDL fetch failed: 0.5 s doubling to 10 s, without jitter (one
   * aggregator per cluster), reset by an attempt whose fetches all succeed.
   */
  private readonly fetchBackoff = new BackoffSchedule({ initialDelayMs: 500, maxDelayMs: 10_000, jitter: false });
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Errors of the last attempt; empty after a success. The composer owns them; status.ts reads them. */
  lastErrors: CompositionIssue[] = [];
  /** Subgraph names registered at the last attempt (owned here, read by status.ts). */
  registered: string[] = [];

  constructor(private readonly opts: ComposerOptions) {}

  /** Starts watching and composes once. */
  async start(): Promise<void> {
    // Started again after a lost and regained leadership: it must react to changes again.
    this.stopped = false;
    this.unwatch = this.opts.registry.watch(() => this.schedule());
    await this.refresh();
  }

  stop(): void {
    this.stopped = true;
    this.unwatch?.();
    clearTimeout(this.timer);
    clearTimeout(this.retryTimer);
  }

  /**
   * A failed SDL fetch is transient (an instance registered a moment before it could answer,
   * or died just after): try again with exponential backoff (0.5 s doubling to 10 s) until it
   * succeeds, since no registry change may come to trigger another attempt.
   */
  private scheduleRetry(): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.refresh(), this.fetchBackoff.next());
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), this.opts.debounceMs ?? 25);
  }

  /** Recomposes now; serialised (a call during a run causes exactly one more run). */
  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.composeOnce();
        } catch (err) {
          this.lastErrors = [{ message: `aggregator failed: ${err instanceof Error ? err.message : String(err)}`, subgraphs: [] }];
          this.opts.logger.error({ err }, "aggregator failed");
        }
      } while (this.again && !this.stopped);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  private async composeOnce(): Promise<void> {
    const { logger } = this.opts;
    const instances = await this.opts.registry.list();
    // Several instances of one module: any of them answers on the queue group; the newest
    // registration's SDL hash wins (a rolling deploy converges when the old ones leave).
    const byName = new Map<string, ServiceInstance>();
    for (const i of instances) if (i.sdlHash) byName.set(i.name, i);
    this.registered = [...byName.keys()].sort();
    if (byName.size === 0) return;
    const subgraphs: SubgraphSdl[] = [];
    const errors: CompositionIssue[] = [];
    const hashes: Record<string, string> = {};
    // A subgraph whose every instance is gone (crash, restart) stays in the supergraph with
    // its last SDL: its fields answer SUBGRAPH_UNAVAILABLE (the others keep working) instead
    // of the schema shrinking and queries naming them failing validation; when the module
    // registers again nothing changes and its fields work again. A module removed for good
    // leaves the supergraph when the aggregator restarts.
    for (const [name, cached] of this.sdlCache) {
      if (byName.has(name)) continue;
      subgraphs.push({ name, sdl: cached.sdl });
      hashes[name] = cached.hash;
      if (!this.down.has(name))
        logger.warn(
          { subgraph: name },
          `subgraph ${name} has no live instance; kept in the supergraph (its fields answer SUBGRAPH_UNAVAILABLE until it returns)`,
        );
    }
    this.down = new Set([...this.sdlCache.keys()].filter((n) => !byName.has(n)));
    await Promise.all(
      [...byName.values()].map(async (inst) => {
        const cached = this.sdlCache.get(inst.name);
        hashes[inst.name] = inst.sdlHash;
        if (cached && cached.hash === inst.sdlHash) return void subgraphs.push({ name: inst.name, sdl: cached.sdl });
        try {
          const sdl = await fetchSubgraphSdl(this.opts.bus, inst.name, this.opts.sdlTimeoutMs);
          this.sdlCache.set(inst.name, { hash: inst.sdlHash, sdl });
          subgraphs.push({ name: inst.name, sdl });
        } catch (err) {
          errors.push({ message: err instanceof Error ? err.message : String(err), subgraphs: [inst.name] });
        }
      }),
    );
    if (errors.length > 0) this.scheduleRetry();
    else this.fetchBackoff.reset();
    if (errors.length === 0) {
      // The composition library is loaded on the first miss only (a start served by the cache
      // or the build's precomposed supergraph never evaluates it).
      const cached = this.opts.cache?.get(subgraphs);
      const result: ComposeResult =
        cached !== undefined ? { ok: true, supergraphSdl: cached } : (await import("./compose.ts")).composeSupergraph(subgraphs);
      if (result.ok && cached === undefined) this.opts.cache?.set(subgraphs, result.supergraphSdl);
      if (result.ok) {
        const current = await this.opts.store.current();
        if (current?.sdl !== result.supergraphSdl) {
          const stored = await this.opts.store.publish(result.supergraphSdl, hashes);
          logger.info({ version: stored.version, subgraphs: Object.keys(hashes).sort() }, "supergraph composed and stored");
          this.opts.bus.publish(SUPERGRAPH_UPDATED, encodeJson({ version: stored.version, subgraphs: stored.subgraphs }));
        }
        this.lastErrors = [];
        return;
      }
      errors.push(...result.errors);
    }
    this.lastErrors = errors;
    for (const e of errors)
      logger.error({ subgraphs: e.subgraphs }, `supergraph composition failed, keeping the last good supergraph: ${e.message}`);
  }
}
