/**
 * The registry's etcd values: validation of what is written and parsing of what is read.
 */
import type { EtcdLogger } from "../../etcd/client.ts";
import { errorText } from "../../etcd/client.ts";
import { copyInstance } from "../instance.ts";
import { RegistryError, type ServiceInstance } from "../types.ts";

/** A RegistryError for `message`, with the cause's text appended. */
export function fail(message: string, cause?: unknown): RegistryError {
  return cause === undefined ? new RegistryError(message) : new RegistryError(`${message}: ${errorText(cause)}`, { cause });
}

/** A key segment: non-empty, no `/` (it would change the key layout), no control characters. */
function checkSegment(value: unknown, what: string): void {
  if (typeof value !== "string" || value.length === 0) throw new RegistryError(`${what} must be a non-empty string`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses.
  if (/[/\u0000-\u001f]/.test(value)) throw new RegistryError(`${what} must not contain "/" or control characters`);
}

/** @throws RegistryError naming the first malformed field. */
export function checkInstance(instance: ServiceInstance): void {
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
export function parseInstance(value: Buffer, logger: EtcdLogger | undefined, key: string): ServiceInstance | null {
  try {
    const parsed = JSON.parse(value.toString("utf8")) as ServiceInstance;
    checkInstance(parsed);
    return copyInstance(parsed);
  } catch (err) {
    logger?.warn({ key, err: errorText(err) }, "registry: ignoring malformed entry");
    return null;
  }
}

/** Whether etcd refused a read because its revision was compacted away. */
export function isCompacted(err: unknown): boolean {
  return err instanceof Error && /compacted/i.test(err.message);
}
