/**
 * Where the composed supergraph lives so that every gateway serves the same one, and how the
 * aggregators agree on who composes. In memory for one process; in etcd for split mode:
 * `/switchyard/supergraph/<version>` holds each version, `/switchyard/supergraph/current`
 * points at the live one, and an etcd election under `/switchyard/election/aggregator`
 * makes exactly one aggregator compose at a time.
 */
export interface StoredSupergraph {
  /** Monotonic version (1, 2, ...). */
  version: number;
  /** The supergraph SDL. */
  sdl: string;
  /** Subgraph name → sha256 of its SDL, as composed. */
  subgraphs: Record<string, string>;
  composedAt: string;
}

export interface SupergraphStore {
  readonly kind: string;
  /** The current supergraph, or null when none was stored yet. */
  current(): Promise<StoredSupergraph | null>;
  /**
   * Stores `sdl` as a new version (previous + 1) and moves `current` to it atomically (etcd
   * transaction). Returns the stored record. Versions are never overwritten.
   */
  publish(sdl: string, subgraphs: Record<string, string>): Promise<StoredSupergraph>;
  /** Calls `fn` whenever `current` changes (not for the value at call time). Returns a stop function. */
  watch(fn: (s: StoredSupergraph) => void): () => void;
  /**
   * Runs for leadership under `name`; resolves with a handle once this process leads.
   * Leadership is lost when the process dies (lease expiry) or `resign` is called.
   */
  campaign(name: string, candidateId: string): Promise<Leadership>;
  close(): Promise<void>;
}

export interface Leadership {
  /** True while this candidate leads. */
  readonly leading: boolean;
  /** Called once if leadership is lost without `resign` (e.g. the lease expired). */
  onLost(fn: () => void): void;
  resign(): Promise<void>;
}
