import type { ServiceInstance } from "./types.ts";

/** The fields `update` may change: everything but the identity (`name`, `instanceId`). */
export type InstancePatch = Partial<Omit<ServiceInstance, "name" | "instanceId">>;

/** A deep copy (arrays and metadata too): registries never share instances with callers. */
export function copyInstance(instance: ServiceInstance): ServiceInstance {
  return {
    name: instance.name,
    instanceId: instance.instanceId,
    version: instance.version,
    subjects: [...instance.subjects],
    sdlHash: instance.sdlHash,
    metadata: { ...instance.metadata },
  };
}

/** `cur` with the patch's defined fields replaced (not validated, not copied). */
export function mergeInstance(cur: ServiceInstance, patch: InstancePatch): ServiceInstance {
  return {
    name: cur.name,
    instanceId: cur.instanceId,
    version: patch.version ?? cur.version,
    subjects: patch.subjects ?? cur.subjects,
    sdlHash: patch.sdlHash ?? cur.sdlHash,
    metadata: patch.metadata ?? cur.metadata,
  };
}

/** Code-unit order by name then instance id (like etcd's byte-ordered keys), not locale order. */
export function compareInstances(a: ServiceInstance, b: ServiceInstance): number {
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  if (a.instanceId !== b.instanceId) return a.instanceId < b.instanceId ? -1 : 1;
  return 0;
}
