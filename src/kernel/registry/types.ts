/**
 * Service registry: which module instances are alive, what they serve and which SDL they
 * expose. In-memory by default ({@link ./memory.ts}); etcd in split mode, where each entry
 * lives under a lease so it disappears when its process dies.
 */

/** One running instance of a module (or of the gateway). */
export interface ServiceInstance {
  /** Module name, e.g. `"catalog"`. */
  name: string;
  /** Unique per process start (a KSUID). */
  instanceId: string;
  /** Module version (semver string). */
  version: string;
  /** Bus subjects this instance serves (request/reply), e.g. `["graphql.catalog", "catalog.stock.reserve"]`. */
  subjects: string[];
  /** sha256 hex of the subgraph SDL, or `""` for instances without a subgraph. */
  sdlHash: string;
  /** Free-form string metadata: host, pid, region, started-at... */
  metadata: Record<string, string>;
}

/** A change seen by a watcher. `update` means the same instance re-registered with changed data (e.g. a new SDL hash). */
export type RegistryEvent =
  | { type: "join"; instance: ServiceInstance }
  | { type: "update"; instance: ServiceInstance }
  | { type: "leave"; instance: ServiceInstance };

/** Handle on one registration. */
export interface Registration {
  readonly instance: ServiceInstance;
  /** Replaces the instance data (same `name`/`instanceId`); watchers see `update`. */
  update(patch: Partial<Omit<ServiceInstance, "name" | "instanceId">>): Promise<void>;
  /** Removes the instance; watchers see `leave`. Idempotent. */
  deregister(): Promise<void>;
}

/** Stops a watch. */
export type Unwatch = () => void;

export interface Registry {
  /** Implementation name for logs: `"memory"`, `"etcd"`. */
  readonly kind: string;
  /**
   * Registers an instance. Throws `RegistryError` if an instance with the same
   * `name` + `instanceId` is already registered through this registry.
   */
  register(instance: ServiceInstance): Promise<Registration>;
  /** Lists live instances, all or of one module name, sorted by name then instanceId. */
  list(name?: string): Promise<ServiceInstance[]>;
  /**
   * Calls `listener` for every later change (not for the current state: call `list` first).
   * Delivery is asynchronous and in order of changes.
   */
  watch(listener: (event: RegistryEvent) => void): Unwatch;
  /** Releases resources; registrations made through it are deregistered. Idempotent. */
  close(): Promise<void>;
}

export class RegistryError extends Error {
  override readonly name = "RegistryError";
}

/** Creates a registry; the contract suite is parameterised by one of these. */
export type RegistryFactory = () => Promise<Registry>;
