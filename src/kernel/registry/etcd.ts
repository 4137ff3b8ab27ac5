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

import { EtcdLeaseInvalidError, type Etcd3, type IKeyValue, type Lease, type Watcher } from "etcd3";
import { createEtcdClient, errorText, revisionOf, sleep, type EtcdLogger } from "../etcd/client.ts";
import { RegistryError, type Registration, type Registry, type RegistryEvent, type ServiceInstance, type Unwatch } from "./types.ts";
import { compareInstances, copyInstance, mergeInstance, type InstancePatch } from "./instance.ts";

export interface EtcdRegistryOptions {
  /** etcd client URLs, `http://host:port`. */
  hosts: string[];
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

type Patch = InstancePatch;

function fail(message: string, cause?: unknown): RegistryError {
  return cause === undefined ? new RegistryError(message) : new RegistryError(`${message}: ${errorText(cause)}`, { cause });
}

/** A key segment: non-empty, no `/` (it would change the key layout), no control characters. */
function checkSegment(value: unknown, what: string): void {
  if (typeof value !== "string" || value.length === 0) throw new RegistryError(`${what} must be a non-empty string`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses.
  if (/[/\u0000-\u001f]/.test(value)) throw new RegistryError(`${what} must not contain "/" or control characters`);
}

/** @throws RegistryError naming the first malformed field. */
function checkInstance(instance: ServiceInstance): void {
  if (typeof instance !== "object" || instance === null) throw new RegistryError("instance must be an object");
  checkSegment(instance.name, "instance name");
  checkSegment(instance.instanceId, "instanceId");
  if (typeof instance.version !== "string") throw new RegistryError("version must be a string");
  if (!Array.isArray(instance.subjects) || !instance.subjects.every((s) => typeof s === "string")) {
    throw new RegistryError("subjects must be an array of strings");
  }
  if (typeof instance.sdlHash !== "string") throw new RegistryError("sdlHash must be a string");
  const md: unknown = instance.metadata;
  if (typeof md !== "object" || md === null || Array.isArray(md)) throw new RegistryError("metadata must be an object");
  for (const [k, v] of Object.entries(md)) {
    if (typeof v !== "string") throw new RegistryError(`metadata.${k} must be a string`);
  }
}

/** Parses a stored value; null (and a warning) when it is not a valid instance. */
function parseInstance(value: Buffer, logger: EtcdLogger | undefined, key: string): ServiceInstance | null {
  try {
    const parsed = JSON.parse(value.toString("utf8")) as ServiceInstance;
    checkInstance(parsed);
    return copyInstance(parsed);
  } catch (err) {
    logger?.warn({ key, err: errorText(err) }, "registry: ignoring malformed entry");
    return null;
  }
}

function isCompacted(err: unknown): boolean {
  return err instanceof Error && /compacted/i.test(err.message);
}

/** What registrations and the watch need from their registry. */
interface Owner {
  readonly client: Etcd3;
  readonly ttlS: number;
  readonly logger: EtcdLogger | undefined;
  readonly closed: boolean;
  /** Records a revision this client has seen (the watch start point). */
  noteRevision(rev: number): void;
  forget(reg: EtcdRegistration): void;
}

class EtcdRegistration implements Registration {
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

  /** Grants a new lease and writes the key under it, retrying with backoff until done or deregistered. */
  async #reregister(): Promise<void> {
    const { client, ttlS, logger } = this.#owner;
    let delayMs = 200;
    for (let attempt = 1; this.#live && !this.#owner.closed; attempt++) {
      const done = await this.#serial(async () => {
        if (!this.#live) return true;
        const lease = client.lease(ttlS);
        try {
          const leaseId = await lease.grant();
          const res = await client.put(this.#key).value(JSON.stringify(this.#current)).lease(leaseId).exec();
          this.#owner.noteRevision(revisionOf(res.header));
          this.#lease = lease;
          this.#leaseId = leaseId;
          this.#lost = false;
          this.#watchLease(lease);
          logger?.info(
            { name: this.#current.name, instanceId: this.#current.instanceId, leaseId, attempt },
            "registry: re-registered after lease loss",
          );
          return true;
        } catch (err) {
          lease.release();
          if (attempt === 1 || attempt % 20 === 0) {
            logger?.warn(
              { name: this.#current.name, instanceId: this.#current.instanceId, attempt, err: errorText(err) },
              "registry: re-registration failed, retrying",
            );
          }
          return false;
        }
      });
      if (done) return;
      await sleep(delayMs);
      delayMs = Math.min(delayMs * 2, 2000);
    }
  }

  /**
   * Replaces the given fields (`undefined` values are ignored; `name`/`instanceId` cannot change)
   * and rewrites the key under the same lease, so watchers see `update`. While the lease is being
   * re-acquired after a loss, the new data is kept and written by the re-registration.
   * @throws RegistryError after `deregister`/`close`, on malformed data, or when etcd fails.
   */
  async update(patch: Patch): Promise<void> {
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

interface Listener {
  readonly fn: (event: RegistryEvent) => void;
  /** Changes at or below this revision happened before `watch()`: not delivered. */
  readonly since: number;
  active: boolean;
}

interface Cached {
  instance: ServiceInstance;
  modRevision: number;
}

/**
 * The etcd watch behind a registry's listeners: keeps the last-seen value of every key, turns
 * etcd events into join/update/leave, and re-lists after reconnects.
 */
class ServicesWatch {
  readonly #owner: Owner;
  readonly #prefix: string;
  readonly #emit: (type: RegistryEvent["type"], instance: ServiceInstance, rev: number) => void;
  readonly #cache = new Map<string, Cached>();
  /** The last list reflects every change up to this revision: watch events not newer are skipped. */
  #listedRev = 0;
  /** Revision of the newest watch event applied: a list older than this is stale. */
  #eventRev = 0;
  #watcher: Watcher | undefined;
  /** Watch events held back while a list is in flight; null when none is. */
  #held: Array<() => void> | null = [];
  #syncing: Promise<void> | undefined;
  #syncAgain = false;
  #disconnected = false;
  #stopped = false;

  constructor(
    owner: Owner,
    prefix: string,
    startRev: number,
    emit: (type: RegistryEvent["type"], instance: ServiceInstance, rev: number) => void,
  ) {
    this.#owner = owner;
    this.#prefix = prefix;
    this.#emit = emit;
    void this.#start(startRev);
  }

  async #start(startRev: number): Promise<void> {
    await this.#sync(startRev);
    this.#openWatcher();
  }

  #openWatcher(): void {
    if (this.#stopped) return;
    // A namespace of its own gives this watch its own etcd3 WatchManager (one gRPC stream), so a
    // watch the server cancelled cannot leave a shared manager stuck.
    const watcher = this.#owner.client
      .namespace("")
      .watch()
      .prefix(this.#prefix)
      .withPreviousKV()
      .startRevision(String(this.#listedRev + 1))
      .watcher();
    this.#watcher = watcher;
    // Handlers are attached synchronously (watcher(), not create()) so no event can slip by.
    watcher.on("put", (kv, prev) => this.#onEvent("put", kv, prev));
    watcher.on("delete", (kv, prev) => this.#onEvent("delete", kv, prev));
    watcher.on("disconnected", () => {
      this.#disconnected = true;
    });
    watcher.on("connected", () => {
      if (!this.#disconnected || this.#stopped) return;
      this.#disconnected = false;
      // etcd3 replays from the last revision it saw; the re-list also covers events it missed.
      this.#owner.logger?.info({ prefix: this.#prefix }, "registry: watch reconnected, re-listing");
      void this.#sync(undefined);
    });
    watcher.on("error", (err) => {
      // The server cancelled the watch (e.g. its start revision was compacted): re-list, re-open.
      if (this.#stopped || watcher !== this.#watcher) return;
      this.#watcher = undefined;
      this.#owner.logger?.warn({ err: errorText(err) }, "registry: watch cancelled by etcd, re-listing");
      void watcher.cancel().catch(() => undefined);
      void this.#sync(undefined).then(() => this.#openWatcher());
    });
  }

  /**
   * Lists the prefix (at revision `atRev`, or now) and makes the cache match it; after the first
   * list, the differences are emitted as join/update/leave. Retries until it succeeds or the watch
   * stops; concurrent calls share one run (which lists again if asked meanwhile). Watch events
   * arriving meanwhile are held and applied afterwards (those not newer than the list are dropped
   * as already reflected).
   */
  #sync(atRev: number | undefined): Promise<void> {
    this.#held ??= [];
    if (this.#syncing !== undefined) {
      this.#syncAgain = true;
      return this.#syncing;
    }
    const run = async (): Promise<void> => {
      let at = atRev;
      do {
        this.#syncAgain = false;
        await this.#listOnce(at);
        at = undefined;
      } while (this.#syncAgain && !this.#stopped);
      this.#syncing = undefined;
      const held = this.#held ?? [];
      this.#held = null;
      for (const apply of held) apply();
    };
    this.#syncing = run();
    return this.#syncing;
  }

  async #listOnce(atRev: number | undefined): Promise<void> {
    let delayMs = 100;
    for (let attempt = 1; !this.#stopped; attempt++) {
      try {
        const range = this.#owner.client.getAll().prefix(this.#prefix);
        if (atRev !== undefined) range.revision(atRev);
        const res = await range.exec();
        this.#owner.noteRevision(revisionOf(res.header));
        if (!this.#stopped) this.#applyList(res.kvs, atRev ?? revisionOf(res.header), this.#listedRev > 0);
        return;
      } catch (err) {
        if (atRev !== undefined && isCompacted(err)) {
          atRev = undefined; // that history is gone: start from the current state
          continue;
        }
        if (attempt === 1 || attempt % 20 === 0) {
          this.#owner.logger?.warn({ attempt, err: errorText(err) }, "registry: listing for watch failed, retrying");
        }
        await sleep(delayMs);
        delayMs = Math.min(delayMs * 2, 2000);
      }
    }
  }

  #applyList(kvs: IKeyValue[], rev: number, diff: boolean): void {
    if (rev < this.#listedRev || rev < this.#eventRev) return; // older than what the cache holds
    const seen = new Set<string>();
    for (const kv of kvs) {
      const key = kv.key.toString("utf8");
      const instance = parseInstance(kv.value, this.#owner.logger, key);
      if (instance === null) continue;
      seen.add(key);
      const modRevision = Number(kv.mod_revision);
      const cached = this.#cache.get(key);
      this.#cache.set(key, { instance, modRevision });
      if (!diff) continue;
      if (cached === undefined) this.#emit("join", instance, modRevision);
      else if (cached.modRevision < modRevision) this.#emit("update", instance, modRevision);
    }
    for (const [key, cached] of [...this.#cache]) {
      if (seen.has(key)) continue;
      this.#cache.delete(key);
      if (diff) this.#emit("leave", cached.instance, rev);
    }
    this.#listedRev = rev;
  }

  #onEvent(type: "put" | "delete", kv: IKeyValue, prev: IKeyValue | undefined): void {
    if (this.#stopped) return;
    if (this.#held !== null) {
      this.#held.push(() => this.#apply(type, kv, prev));
      return;
    }
    this.#apply(type, kv, prev);
  }

  #apply(type: "put" | "delete", kv: IKeyValue, prev: IKeyValue | undefined): void {
    if (this.#stopped) return;
    // For a delete event, kv.mod_revision is the revision of the delete.
    const rev = Number(kv.mod_revision);
    this.#owner.noteRevision(rev);
    if (rev <= this.#listedRev) return;
    if (rev > this.#eventRev) this.#eventRev = rev;
    const key = kv.key.toString("utf8");
    const cached = this.#cache.get(key);
    if (type === "put") {
      if (cached !== undefined && cached.modRevision >= rev) return;
      const instance = parseInstance(kv.value, this.#owner.logger, key);
      if (instance === null) return;
      this.#cache.set(key, { instance, modRevision: rev });
      this.#emit(cached === undefined ? "join" : "update", instance, rev);
      return;
    }
    if (cached === undefined) return; // never known (or already reported gone by a re-list)
    this.#cache.delete(key);
    const last = prev === undefined || prev === null ? null : parseInstance(prev.value, undefined, key);
    this.#emit("leave", last ?? cached.instance, rev);
  }

  /** Stops the etcd watch; waits at most 1 s for etcd to confirm the cancel. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#held = null;
    const watcher = this.#watcher;
    this.#watcher = undefined;
    if (watcher === undefined) return;
    await Promise.race([watcher.cancel().catch(() => undefined), sleep(1000)]);
  }
}

class EtcdRegistry implements Registry, Owner {
  readonly kind = "etcd";
  readonly client: Etcd3;
  readonly ttlS: number;
  readonly logger: EtcdLogger | undefined;
  readonly #servicesPrefix: string;
  readonly #registrations = new Set<EtcdRegistration>();
  readonly #listeners = new Set<Listener>();
  #watch: ServicesWatch | undefined;
  #rev: number;
  #closed = false;

  constructor(client: Etcd3, servicesPrefix: string, ttlS: number, logger: EtcdLogger | undefined, rev: number) {
    this.client = client;
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

  forget(reg: EtcdRegistration): void {
    this.#registrations.delete(reg);
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
        try {
          this.logger?.warn({ err, event: type, name: instance.name, instanceId: instance.instanceId }, "registry watch listener failed");
        } catch {
          // A failing logger must not stop delivery to the other listeners.
        }
      }
    }
  }

  /**
   * Stops this client's watchers, deregisters everything registered through it (other clients
   * see `leave`; failures are logged, the leases then expire) and closes the etcd connection.
   * Idempotent.
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
    this.client.close();
  }
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
  try {
    client = createEtcdClient({ hosts: opts.hosts });
  } catch (err) {
    throw fail("registry", err);
  }
  const servicesPrefix = `${prefix}/services/`;
  try {
    // One cheap read: proves etcd answers and gives the revision a first watch starts from.
    const res = await client.getAll().prefix(servicesPrefix).limit(1).exec();
    return new EtcdRegistry(client, servicesPrefix, ttlS, opts.logger, revisionOf(res.header));
  } catch (err) {
    client.close();
    throw fail(`etcd at ${opts.hosts.join(",")} unreachable`, err);
  }
}
