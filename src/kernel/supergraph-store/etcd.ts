/**
 * Supergraph store in etcd (split mode): every gateway serves the same supergraph, and one
 * aggregator at a time composes it.
 *
 * Layout (etcd v3 API, https://etcd.io/docs/v3.4/learning/api/):
 * - `<prefix>/supergraph/<version>` → {@link StoredSupergraph} JSON, written once per version;
 * - `<prefix>/supergraph/current` → the same JSON for the live version;
 * - `<prefix>/election/<name>/<leaseId>` → candidate ids (etcd3's Election recipe, the same as
 *   the Go client's `concurrency.Election`: the candidate key with the lowest create revision
 *   leads; keys live under the candidate's lease).
 *
 * `publish` is optimistic: it reads `current` (value + mod revision) and commits, in one
 * transaction, the new version key and `current`, guarded by "current's mod revision is still
 * the one read" and "the version key does not exist". A concurrent publisher makes the guard
 * fail; the loser re-reads and retries with the next version, so versions are never reused.
 */

import { errorText, etcdClientFor, revisionOf, type EtcdConnectionOptions, type EtcdLogger } from "../etcd/client.ts";
import { EtcdSupergraphStore } from "./etcd/store.ts";
import type { SupergraphStore } from "./types.ts";

/** Options of {@link createEtcdSupergraphStore}: `hosts` (own connection) or `client` (shared with the registry). */
export interface EtcdSupergraphStoreOptions extends EtcdConnectionOptions {
  /** Key prefix, without trailing slash (default `"/switchyard"`). */
  prefix?: string;
  /**
   * TTL of a candidate's lease in seconds (integer ≥ 1, default 10): how long a dead leader
   * blocks the election.
   */
  ttlS?: number;
  /** Receives watch and leadership notices. */
  logger?: EtcdLogger;
}

/**
 * Connects to etcd and returns a supergraph store client, after one read that proves etcd answers.
 * @throws Error on bad options, or when etcd is unreachable (at once on a refused connection;
 *   after two attempts with a 5 s deadline each when it does not answer).
 */
export async function createEtcdSupergraphStore(opts: EtcdSupergraphStoreOptions): Promise<SupergraphStore> {
  const ttlS = opts.ttlS ?? 10;
  if (!Number.isInteger(ttlS) || ttlS < 1) throw new Error(`supergraph store: ttlS must be an integer ≥ 1, got ${ttlS}`);
  const prefix = opts.prefix ?? "/switchyard";
  if (!prefix.startsWith("/") || prefix.endsWith("/")) {
    throw new Error(`supergraph store: prefix must start with "/" and not end with "/", got ${JSON.stringify(prefix)}`);
  }
  const { client, owned } = etcdClientFor(opts);
  try {
    const res = await client.get(`${prefix}/supergraph/current`).exec();
    return new EtcdSupergraphStore(client, owned, prefix, ttlS, opts.logger, revisionOf(res.header));
  } catch (err) {
    if (owned) client.close();
    const where = (opts.hosts ?? ["(shared client)"]).join(",");
    throw new Error(`supergraph store: etcd at ${where} unreachable: ${errorText(err)}`, { cause: err });
  }
}
