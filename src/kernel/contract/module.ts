import type { ModuleDefinition } from "../module.ts";
import type { Contract, EventDefinition } from "./define.ts";

/**
 * What a module writes: its {@link ModuleDefinition} without the subject lists, plus its
 * contract and the events it consumes, from which {@link defineModule} derives them.
 */
export interface ModuleSpec<O extends object = object> extends Omit<ModuleDefinition<O>, "subjects" | "publishes" | "consumes"> {
  /** The module's own contract (`contract/`): the commands it serves and the events it publishes. */
  contract: Contract;
  /** Events (of other modules, or its own) the module consumes with `ctx.on`. */
  consumes?: readonly EventDefinition[];
}

/** A module definition built by {@link defineModule}: the kernel's view plus the definitions it came from. */
export interface DefinedModule<O extends object = object> extends ModuleDefinition<O> {
  readonly contract: Contract;
}

/**
 * Builds a module's definition from its contract: `subjects` are its commands' subjects,
 * `publishes` its events' subjects, `consumes` the subjects of `spec.consumes`. Adding a command
 * or an event is one entry in the contract (plus its handler); registry, NATS permissions
 * (`bus/nats-permissions.ts`), JetStream stream and the kernel's start-time check follow.
 * `O` is the module's options type (from `spec.options`), so `start` sees a typed `ctx.options`.
 */
export function defineModule<O extends object = object>(spec: ModuleSpec<O>): DefinedModule<O> {
  return {
    ...spec,
    subjects: Object.values(spec.contract.commands).map((c) => c.subject),
    publishes: Object.values(spec.contract.events).map((e) => e.subject),
    consumes: (spec.consumes ?? []).map((e) => e.subject),
  };
}
