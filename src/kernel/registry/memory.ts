/**
 * In-process service registry: the default in single-binary mode, and the reference the etcd
 * registry is held to by tests/contract/registry.contract.ts.
 *
 * A {@link MemoryRegistryStore} plays the part of the etcd cluster; each `connect()` is one
 * client. Registrations belong to the client that made them (as etcd leases do): closing a client
 * deregisters them. Watch events are queued per store and delivered in change order from a
 * microtask, never on the caller's stack. Instances are deep-copied on the way in and out, so
 * callers can never alter the stored state by mutating what they passed or received.
 */

import { RegistryError, type Registration, type Registry, type RegistryEvent, type ServiceInstance, type Unwatch } from "./types.ts";
import { type LogSink, safeLog } from "../logger.ts";
import { compareInstances, copyInstance, mergeInstance, type InstancePatch } from "./instance.ts";

/** What the registry needs of a logger: warnings about failing watch listeners. */
export type MemoryRegistryLogger = Pick<LogSink, "warn">;

export interface MemoryRegistryOptions {
  /** Receives errors thrown by watch listeners; they are dropped without one. */
  logger?: MemoryRegistryLogger;
}

/** Shared state several clients can connect to (the in-memory stand-in for an etcd cluster). */
export interface MemoryRegistryStore {
  /** Opens a new client on this store. */
  connect(): Registry;
}

function keyOf(instance: ServiceInstance): string {
  return `${instance.name}\u0000${instance.instanceId}`;
}

function checkInstance(instance: ServiceInstance): void {
  if (typeof instance?.name !== "string" || instance.name.length === 0) {
    throw new RegistryError("instance name must be a non-empty string");
  }
  if (typeof instance.instanceId !== "string" || instance.instanceId.length === 0) {
    throw new RegistryError("instanceId must be a non-empty string");
  }
  if (!Array.isArray(instance.subjects)) throw new RegistryError("subjects must be an array");
  if (typeof instance.metadata !== "object" || instance.metadata === null) {
    throw new RegistryError("metadata must be an object");
  }
}

interface Watcher {
  readonly listener: (event: RegistryEvent) => void;
  active: boolean;
}

interface QueuedEvent {
  readonly type: RegistryEvent["type"];
  readonly instance: ServiceInstance;
  /** Watchers present when the change happened: later watchers must not see earlier changes. */
  readonly to: Watcher[];
}

class Store implements MemoryRegistryStore {
  readonly entries = new Map<string, ServiceInstance>();
  readonly watchers = new Set<Watcher>();
  readonly #logger: MemoryRegistryLogger | undefined;
  #queue: QueuedEvent[] = [];
  #scheduled = false;

  constructor(logger: MemoryRegistryLogger | undefined) {
    this.#logger = logger;
  }

  connect(): Registry {
    return new MemoryRegistry(this);
  }

  /** Queues an event; `instance` must be a private copy (it is copied again per listener). */
  emit(type: RegistryEvent["type"], instance: ServiceInstance): void {
    if (this.watchers.size === 0) return;
    this.#queue.push({ type, instance, to: [...this.watchers] });
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#run);
    }
  }

  readonly #run = (): void => {
    // Listeners may cause new events; they are appended and delivered in this same pass.
    const queue = this.#queue;
    for (let i = 0; i < queue.length; i++) {
      const queued = queue[i];
      if (queued === undefined) continue;
      for (const watcher of queued.to) {
        if (!watcher.active) continue;
        try {
          watcher.listener({ type: queued.type, instance: copyInstance(queued.instance) });
        } catch (err) {
          this.#report(err, queued);
        }
      }
    }
    this.#queue = [];
    this.#scheduled = false;
  };

  #report(err: unknown, queued: QueuedEvent): void {
    // safeLog: a failing logger must not stop delivery to the other listeners.
    safeLog(
      this.#logger,
      "warn",
      { err, event: queued.type, name: queued.instance.name, instanceId: queued.instance.instanceId },
      "registry watch listener failed",
    );
  }
}

class MemoryRegistration implements Registration {
  readonly #store: Store;
  readonly #onGone: (reg: MemoryRegistration) => void;
  readonly #key: string;
  #current: ServiceInstance;
  #live = true;

  constructor(store: Store, current: ServiceInstance, onGone: (reg: MemoryRegistration) => void) {
    this.#store = store;
    this.#current = current;
    this.#key = keyOf(current);
    this.#onGone = onGone;
  }

  /** A copy of the current data (reflects `update`). */
  get instance(): ServiceInstance {
    return copyInstance(this.#current);
  }

  /**
   * Replaces the given fields (`undefined` values are ignored; `name`/`instanceId` cannot change).
   * @throws RegistryError after `deregister` (or after the registry was closed).
   */
  async update(patch: InstancePatch): Promise<void> {
    if (!this.#live) {
      throw new RegistryError(`${this.#current.name}/${this.#current.instanceId} is not registered`);
    }
    const cur = this.#current;
    const merged = mergeInstance(cur, patch);
    checkInstance(merged);
    const next = copyInstance(merged);
    this.#current = next;
    this.#store.entries.set(this.#key, next);
    this.#store.emit("update", next);
  }

  /** Removes the instance and emits `leave` once; later calls do nothing. */
  async deregister(): Promise<void> {
    if (!this.#live) return;
    this.#live = false;
    this.#store.entries.delete(this.#key);
    this.#store.emit("leave", this.#current);
    this.#onGone(this);
  }
}

class MemoryRegistry implements Registry {
  readonly kind = "memory";
  readonly #store: Store;
  readonly #registrations = new Set<MemoryRegistration>();
  readonly #watchers = new Set<Watcher>();
  #closed = false;

  constructor(store: Store) {
    this.#store = store;
  }

  /**
   * @throws RegistryError when closed, when the instance is malformed (empty name/instanceId),
   *   or when the same name + instanceId is already registered in the store.
   */
  async register(instance: ServiceInstance): Promise<Registration> {
    if (this.#closed) throw new RegistryError("registry is closed");
    checkInstance(instance);
    const copy = copyInstance(instance);
    const key = keyOf(copy);
    if (this.#store.entries.has(key)) {
      throw new RegistryError(`${copy.name}/${copy.instanceId} is already registered`);
    }
    this.#store.entries.set(key, copy);
    this.#store.emit("join", copy);
    const reg = new MemoryRegistration(this.#store, copy, (r) => this.#registrations.delete(r));
    this.#registrations.add(reg);
    return reg;
  }

  /** @throws RegistryError when closed. */
  async list(name?: string): Promise<ServiceInstance[]> {
    if (this.#closed) throw new RegistryError("registry is closed");
    const out: ServiceInstance[] = [];
    for (const instance of this.#store.entries.values()) {
      if (name === undefined || instance.name === name) out.push(copyInstance(instance));
    }
    return out.sort(compareInstances);
  }

  /** Listeners registered through a closed registry receive nothing; on a closed one this is a no-op. */
  watch(listener: (event: RegistryEvent) => void): Unwatch {
    if (this.#closed) return () => {};
    const watcher: Watcher = { listener, active: true };
    this.#store.watchers.add(watcher);
    this.#watchers.add(watcher);
    return () => {
      watcher.active = false;
      this.#store.watchers.delete(watcher);
      this.#watchers.delete(watcher);
    };
  }

  /**
   * Stops this client's watchers (including events still queued for them), then deregisters
   * everything registered through it: other clients see `leave`, this one sees nothing more
   * (as when an etcd client closes its watch stream). Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const watcher of this.#watchers) {
      watcher.active = false;
      this.#store.watchers.delete(watcher);
    }
    this.#watchers.clear();
    for (const reg of [...this.#registrations]) await reg.deregister();
  }
}

/** Creates a store that several registry clients can share (see {@link MemoryRegistryStore}). */
export function createMemoryRegistryStore(opts?: MemoryRegistryOptions): MemoryRegistryStore {
  return new Store(opts?.logger);
}

/** Creates a new, isolated in-memory registry (its own store; nothing shared between calls). */
export function createMemoryRegistry(opts?: MemoryRegistryOptions): Registry {
  return new Store(opts?.logger).connect();
}
