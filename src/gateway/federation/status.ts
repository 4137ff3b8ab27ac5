import type { CompositionIssue } from "./composer.ts";
import type { LoadedSupergraph } from "./manager.ts";

/** Observable state of the supergraph, for readiness, `GET /admin/health` and `GET /admin/supergraph`. */
export interface SupergraphStatus {
  /** The supergraph this gateway executes; null until one was loaded. */
  current: LoadedSupergraph | null;
  /** Errors of the aggregator's last attempt (only known where the aggregator runs). */
  lastErrors: readonly CompositionIssue[];
  /** Subgraph names registered at the aggregator's last attempt. */
  registered: readonly string[];
  /** Whether this gateway is the elected aggregator. */
  aggregator: boolean;
}

/** Reads the current {@link SupergraphStatus}; every call reads its owners afresh. */
export type SupergraphStatusReader = () => SupergraphStatus;

/**
 * The status as read from its owners, each the only place its field is kept: the manager owns
 * the served supergraph, the composer its attempts, the election loop (gateway/index.ts) the
 * aggregator role. Nothing copies one owner's state into another.
 */
export function supergraphStatus(owners: {
  manager: { readonly current: LoadedSupergraph | null };
  composer: { readonly lastErrors: readonly CompositionIssue[]; readonly registered: readonly string[] };
  aggregator: () => boolean;
}): SupergraphStatusReader {
  return () => ({
    current: owners.manager.current,
    lastErrors: owners.composer.lastErrors,
    registered: owners.composer.registered,
    aggregator: owners.aggregator(),
  });
}
