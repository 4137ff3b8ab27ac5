import { EtcdLeaseInvalidError, type Lease } from "etcd3";
import { errorText, revisionOf } from "../../etcd/client.ts";
import { retryUntilDone } from "../../policy/stages.ts";
import { copyInstance, mergeInstance, type InstancePatch } from "../instance.ts";
import { RegistryError, type Registration, type ServiceInstance } from "../types.ts";
import { checkInstance, fail } from "./entries.ts";
import type { Owner } from "./owner.ts";

/**
 * One instance registered through an etcd registry: its key under a lease of its own, kept alive
 * by etcd3, re-registered under a new lease when the lease is lost (etcd unreachable longer than
 * the TTL), deleted on `deregister`.
 */
export class EtcdRegistration implements Registration {
  readonly #owner: Owner;
  readonly #key: string;
  #current: ServiceInstance;
  #lease: Lease;
  #leaseId: string;
  #live = true;
  /** True from lease loss until the re-registration wrote the key under a new lease. */
  #lost = false;
  #reregistering: Promise<void> | undefined;
  /** Serialises writes to the key (update, re-registration attempts, deregister). */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(owner: Owner, key: string, current: ServiceInstance, lease: Lease, leaseId: string) {
    this.#owner = owner;
    this.#key = key;
    this.#current = current;
    this.#lease = lease;
    this.#leaseId = leaseId;
    this.#watchLease(lease);
  }

  /** A copy of the current data (reflects `update`). */
  get instance(): ServiceInstance {
    return copyInstance(this.#current);
  }

  /** The etcd key of this registration. */
  get key(): string {
    return this.#key;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #watchLease(lease: Lease): void {
    lease.on("lost", (err) => {
      if (lease === this.#lease) this.#onLeaseLost(err);
    });
    // The lease may have been lost before the handler was attached.
    if (lease.revoked() && this.#live) this.#onLeaseLost(new EtcdLeaseInvalidError(this.#leaseId));
  }

  #onLeaseLost(err: unknown): void {
    if (!this.#live || this.#lost || this.#owner.closed) return;
    this.#lost = true;
    this.#owner.logger?.warn(
      { name: this.#current.name, instanceId: this.#current.instanceId, leaseId: this.#leaseId, err: errorText(err) },
      "registry: lease lost, re-registering when etcd answers",
    );
    this.#reregistering = this.#reregister();
  }

  /**
   * Grants a new lease and writes the key under it, retrying with backoff (200 ms doubling to
   * 2 s, the policy's retry-until-done stage) until done or deregistered.
   */
  async #reregister(): Promise<void> {
    const { client, ttlS, logger } = this.#owner;
    const who = { name: this.#current.name, instanceId: this.#current.instanceId };
    await retryUntilDone(
      (attempt) =>
        this.#serial(async () => {
          if (!this.#live) return;
          const lease = client.lease(ttlS);
          try {
            const leaseId = await lease.grant();
            const res = await client.put(this.#key).value(JSON.stringify(this.#current)).lease(leaseId).exec();
            this.#owner.noteRevision(revisionOf(res.header));
            this.#lease = lease;
            this.#leaseId = leaseId;
            this.#lost = false;
            this.#watchLease(lease);
            logger?.info({ ...who, leaseId, attempt }, "registry: re-registered after lease loss");
          } catch (err) {
            lease.release();
            throw err;
          }
        }),
      {
        initialDelayMs: 200,
        maxDelayMs: 2000,
        stopped: () => !this.#live || this.#owner.closed,
        onFailure: (err, attempt) => {
          if (attempt === 1 || attempt % 20 === 0)
            logger?.warn({ ...who, attempt, err: errorText(err) }, "registry: re-registration failed, retrying");
        },
      },
    );
  }

  /**
   * Replaces the given fields (`undefined` values are ignored; `name`/`instanceId` cannot change)
   * and rewrites the key under the same lease, so watchers see `update`. While the lease is being
   * re-acquired after a loss, the new data is kept and written by the re-registration.
   * @throws RegistryError after `deregister`/`close`, on malformed data, or when etcd fails.
   */
  async update(patch: InstancePatch): Promise<void> {
    if (!this.#live) throw new RegistryError(`${this.#current.name}/${this.#current.instanceId} is not registered`);
    const cur = this.#current;
    const merged = mergeInstance(cur, patch);
    checkInstance(merged);
    const next = copyInstance(merged);
    await this.#serial(async () => {
      if (!this.#live) throw new RegistryError(`${cur.name}/${cur.instanceId} is not registered`);
      if (this.#lost) {
        this.#current = next;
        return;
      }
      try {
        const res = await this.#owner.client.put(this.#key).value(JSON.stringify(next)).lease(this.#leaseId).exec();
        this.#owner.noteRevision(revisionOf(res.header));
        this.#current = next;
      } catch (err) {
        if (err instanceof EtcdLeaseInvalidError) {
          this.#current = next;
          this.#onLeaseLost(err);
          return;
        }
        throw fail(`update ${cur.name}/${cur.instanceId}`, err);
      }
    });
  }

  /**
   * Deletes the key (watchers see `leave`) and revokes the lease. Idempotent. If etcd is
   * unreachable it throws, and the key disappears when the (no longer kept alive) lease expires.
   * @throws RegistryError when etcd fails.
   */
  async deregister(): Promise<void> {
    if (!this.#live) return;
    this.#live = false;
    this.#owner.forget(this);
    await this.#reregistering;
    await this.#serial(async () => {
      const lease = this.#lease;
      try {
        const res = await this.#owner.client.delete().key(this.#key).exec();
        this.#owner.noteRevision(revisionOf(res.header));
      } catch (err) {
        lease.release();
        throw fail(`deregister ${this.#current.name}/${this.#current.instanceId}`, err);
      }
      // Revoking after the delete keeps the delete (and its `leave`) explicit; a lease that is
      // already gone is fine.
      await lease.revoke().catch(() => lease.release());
    });
  }
}
