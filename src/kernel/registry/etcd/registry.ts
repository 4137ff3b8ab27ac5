import type { Etcd3, IKeyValue } from "etcd3";
import { errorText, revisionOf, type EtcdLogger } from "../../etcd/client.ts";
import { safeLog } from "../../logger.ts";
import { compareInstances, copyInstance } from "../instance.ts";
import { RegistryError, type Registration, type Registry, type RegistryEvent, type ServiceInstance, type Unwatch } from "../types.ts";
import { checkInstance, fail, parseInstance } from "./entries.ts";
import type { Owner } from "./owner.ts";
import { EtcdRegistration } from "./registration.ts";
import { ServicesWatch } from "./services-watch.ts";

interface Listener {
  readonly fn: (event: RegistryEvent) => void;
  /** Changes at or below this revision happened before `watch()`: not delivered. */
  readonly since: number;
  active: boolean;
}

/**
 * A registry client over etcd (layout and guarantees: see `../etcd.ts`). Owns its registrations
 * and the one etcd watch behind its listeners.
 */
export class EtcdRegistry implements Registry, Owner {
  readonly kind = "etcd";
  readonly client: Etcd3;
  readonly ttlS: number;
  readonly logger: EtcdLogger | undefined;
  /** Whether this registry created its client (and closes it) or shares the process's. */
  readonly #ownsClient: boolean;
  readonly #servicesPrefix: string;
  readonly #registrations = new Set<EtcdRegistration>();
  readonly #listeners = new Set<Listener>();
  #watch: ServicesWatch | undefined;
  #rev: number;
  #closed = false;

  constructor(client: Etcd3, ownsClient: boolean, servicesPrefix: string, ttlS: number, logger: EtcdLogger | undefined, rev: number) {
    this.client = client;
    this.#ownsClient = ownsClient;
    this.#servicesPrefix = servicesPrefix;
    this.ttlS = ttlS;
    this.logger = logger;
    this.#rev = rev;
  }

  get closed(): boolean {
    return this.#closed;
  }

  noteRevision(rev: number): void {
    if (rev > this.#rev) this.#rev = rev;
  }

  forget(reg: Registration): void {
    this.#registrations.delete(reg as EtcdRegistration);
  }

  #keyOf(name: string, instanceId: string): string {
    return `${this.#servicesPrefix}${name}/${instanceId}`;
  }

  /**
   * Writes the instance under a new lease, only if the key does not exist yet.
   * @throws RegistryError when closed, on malformed data (empty name/instanceId, `/` in them,
   *   non-string fields), when the name + instanceId is registered already (by any process),
   *   or when etcd fails.
   */
  async register(instance: ServiceInstance): Promise<Registration> {
    if (this.#closed) throw new RegistryError("registry is closed");
    checkInstance(instance);
    const copy = copyInstance(instance);
    const key = this.#keyOf(copy.name, copy.instanceId);
    const lease = this.client.lease(this.ttlS);
    let leaseId: string;
    try {
      leaseId = await lease.grant();
      const res = await this.client
        .if(key, "Create", "==", 0)
        .then(this.client.put(key).value(JSON.stringify(copy)).lease(leaseId))
        .commit();
      this.noteRevision(revisionOf(res.header));
      if (!res.succeeded) {
        await lease.revoke().catch(() => lease.release());
        throw new RegistryError(`${copy.name}/${copy.instanceId} is already registered`);
      }
    } catch (err) {
      lease.release();
      if (err instanceof RegistryError) throw err;
      throw fail(`register ${copy.name}/${copy.instanceId}`, err);
    }
    const reg = new EtcdRegistration(this, key, copy, lease, leaseId);
    this.#registrations.add(reg);
    if (this.#closed) {
      await reg.deregister().catch(() => undefined);
      throw new RegistryError("registry is closed");
    }
    return reg;
  }

  /** @throws RegistryError when closed or when etcd fails. */
  async list(name?: string): Promise<ServiceInstance[]> {
    if (this.#closed) throw new RegistryError("registry is closed");
    if (name !== undefined && (name.length === 0 || name.includes("/"))) return [];
    let kvs: IKeyValue[];
    try {
      const res = await this.client
        .getAll()
        .prefix(name === undefined ? this.#servicesPrefix : `${this.#servicesPrefix}${name}/`)
        .exec();
      this.noteRevision(revisionOf(res.header));
      kvs = res.kvs;
    } catch (err) {
      throw fail("list", err);
    }
    const out: ServiceInstance[] = [];
    for (const kv of kvs) {
      const instance = parseInstance(kv.value, this.logger, kv.key.toString("utf8"));
      if (instance !== null) out.push(instance);
    }
    return out.sort(compareInstances);
  }

  /**
   * Delivers changes after the last revision this client has seen when called (its own writes
   * and reads included). The etcd watch starts with the first listener and stops with the last.
   * On a closed registry this is a no-op.
   */
  watch(listener: (event: RegistryEvent) => void): Unwatch {
    if (this.#closed) return () => {};
    const entry: Listener = { fn: listener, since: this.#rev, active: true };
    this.#listeners.add(entry);
    this.#watch ??= new ServicesWatch(this, this.#servicesPrefix, this.#rev, (type, instance, rev) => this.#dispatch(type, instance, rev));
    return () => {
      if (!entry.active) return;
      entry.active = false;
      this.#listeners.delete(entry);
      if (this.#listeners.size === 0 && this.#watch !== undefined) {
        void this.#watch.stop();
        this.#watch = undefined;
      }
    };
  }

  #dispatch(type: RegistryEvent["type"], instance: ServiceInstance, rev: number): void {
    for (const listener of [...this.#listeners]) {
      if (!listener.active || rev <= listener.since) continue;
      try {
        listener.fn({ type, instance: copyInstance(instance) });
      } catch (err) {
        // safeLog: a failing logger must not stop delivery to the other listeners.
        safeLog(
          this.logger,
          "warn",
          { err, event: type, name: instance.name, instanceId: instance.instanceId },
          "registry watch listener failed",
        );
      }
    }
  }

  /**
   * Stops this client's watchers, deregisters everything registered through it (other clients
   * see `leave`; failures are logged, the leases then expire) and closes the etcd connection
   * unless it is shared (its owner closes it). Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const listener of this.#listeners) listener.active = false;
    this.#listeners.clear();
    const watch = this.#watch;
    this.#watch = undefined;
    await watch?.stop();
    for (const reg of [...this.#registrations]) {
      try {
        await reg.deregister();
      } catch (err) {
        this.logger?.warn({ key: reg.key, err: errorText(err) }, "registry: deregister on close failed; the lease will expire");
      }
    }
    if (this.#ownsClient) this.client.close();
  }
}
