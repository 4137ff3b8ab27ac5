/**
 * Service registry in etcd (split mode): every process sees every live instance, and an
 * instance disappears on its own when its process dies.
 *
 * Layout (etcd v3 API, https://etcd.io/docs/v3.4/learning/api/):
 * - `<prefix>/services/<name>/<instanceId>` → the {@link ServiceInstance} as JSON, attached to a
 *   lease of its own (TTL `ttlS`, kept alive by the client). A dead process stops the keepalives,
 *   the lease expires and etcd deletes the key; `deregister` deletes the key and revokes the lease.
 * - `register` is a transaction "create only if absent" (`create_revision == 0`), so two processes
 *   cannot claim the same name + instanceId.
 *
 * Watching: one etcd watch per registry client on `<prefix>/services/`, with `prev_kv`. Put on a
 * key not seen before → `join`, on a known key → `update`; delete → `leave` carrying the last
 * value. The watch starts from the last revision this client has seen (from its own writes and
 * reads), after loading the state at that revision, so a change made right after `watch()` is
 * never missed. After a reconnect (etcd restart, network cut), the client re-lists the prefix and
 * emits the difference with what it knew, then applies the replayed events newer than that list.
 *
 * Lease loss: if etcd is unreachable for longer than the TTL, the lease is gone; each
 * registration then re-registers (new lease, same key and data) as soon as etcd answers again,
 * retrying with backoff, and logs both events.
 */

import type { Etcd3 } from "etcd3";
import { etcdClientFor, revisionOf, type EtcdConnectionOptions, type EtcdLogger } from "../etcd/client.ts";
import { fail } from "./etcd/entries.ts";
import { EtcdRegistry } from "./etcd/registry.ts";
import { RegistryError, type Registry } from "./types.ts";

/** Options of {@link createEtcdRegistry}: `hosts` (own connection) or `client` (shared with the supergraph store). */
export interface EtcdRegistryOptions extends EtcdConnectionOptions {
  /**
   * Lease TTL in seconds (integer ≥ 1, default 10): how long a dead instance stays listed. etcd
   * raises values below its minimum (2 s with default election settings).
   */
  ttlS?: number;
  /** Key prefix, without trailing slash (default `"/switchyard"`). */
  prefix?: string;
  /** Receives lease loss / re-registration / watch resync notices and listener errors. */
  logger?: EtcdLogger;
}

/**
 * Connects to etcd and returns a registry client, after one read that proves etcd answers.
 * @throws RegistryError on bad options, or when etcd is unreachable (at once on a refused
 *   connection; after two attempts with a 5 s deadline each when it does not answer).
 */
export async function createEtcdRegistry(opts: EtcdRegistryOptions): Promise<Registry> {
  const ttlS = opts.ttlS ?? 10;
  if (!Number.isInteger(ttlS) || ttlS < 1) throw new RegistryError(`ttlS must be an integer ≥ 1, got ${ttlS}`);
  const prefix = opts.prefix ?? "/switchyard";
  if (!prefix.startsWith("/") || prefix.endsWith("/")) {
    throw new RegistryError(`prefix must start with "/" and not end with "/", got ${JSON.stringify(prefix)}`);
  }
  let client: Etcd3;
  let owned: boolean;
  try {
    ({ client, owned } = etcdClientFor(opts));
  } catch (err) {
    throw fail("registry", err);
  }
  const servicesPrefix = `${prefix}/services/`;
  try {
    // One cheap read: proves etcd answers and gives the revision a first watch starts from.
    const res = await client.getAll().prefix(servicesPrefix).limit(1).exec();
    return new EtcdRegistry(client, owned, servicesPrefix, ttlS, opts.logger, revisionOf(res.header));
  } catch (err) {
    if (owned) client.close();
    throw fail(`etcd at ${(opts.hosts ?? ["(shared client)"]).join(",")} unreachable`, err);
  }
}
