import type { Logger } from "./logger.ts";
import type { ModuleDefinition } from "./module.ts";
import { ModuleControlError, type ModuleControl, type ModuleState, type ModuleStatus } from "./module-control.ts";

/** How a module's stop went: drained in time or not, and when its late work ended. */
export interface ModuleStopResult {
  /** Whether in-flight requests and event handlers ended within DRAIN_TIMEOUT_MS. */
  drained: boolean;
  /** Settles (never rejects) once they ended, in time or late. */
  settled: Promise<void>;
}

/** What {@link ModuleHandover} needs from the kernel that runs the modules. */
export interface HandoverHost {
  /** The process's module definitions, in start order. */
  modules(): readonly ModuleDefinition[];
  /** The kernel's lifecycle state; pause and resume need `started`. */
  state(): string;
  /** The registry instance id of running module `name` (null when not registered), undefined when it does not run. */
  instanceId(name: string): string | null | undefined;
  /** Takes running module `name` out of the running set and stops it (the kernel's stop sequence); never throws. */
  stop(name: string): Promise<ModuleStopResult>;
  /**
   * Starts `def` as at kernel start (subscriptions, consumers, relay, registration); on failure
   * stops what it started and throws (ModuleControlError NOT_STARTED when the kernel began
   * stopping before the module ran again).
   */
  start(def: ModuleDefinition): Promise<void>;
  /** Instance ids of module `name` registered now (by any process). */
  registered(name: string): Promise<string[]>;
  /** Kind of the process's event stream (`memory` loses events sent to an absent consumer). */
  eventsKind: string;
  logger: Logger;
}

/**
 * The kernel's {@link ModuleControl}: keeps each module's hand-over state and refuses what its
 * state does not allow (module-control.ts codes); the mechanics of stopping and starting one
 * module are the kernel's ({@link HandoverHost}).
 */
export class ModuleHandover implements ModuleControl {
  /** Modules paused or being paused / resumed; absent = running. */
  readonly #transitions = new Map<string, Exclude<ModuleState, "running">>();
  /** Paused modules whose drain timed out, with the promise of their late work (see ModuleStatus.drained). */
  readonly #undrained = new Map<string, Promise<void>>();
  /** Pauses and resumes running now, so that a stopping kernel can wait for them. */
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #host: HandoverHost;

  constructor(host: HandoverHost) {
    this.#host = host;
  }

  list(): ModuleStatus[] {
    return this.#host.modules().map((def) => {
      const state: ModuleState = this.#transitions.get(def.name) ?? "running";
      const instanceId = state === "running" ? (this.#host.instanceId(def.name) ?? null) : null;
      return { name: def.name, state, instanceId, drained: state !== "pausing" && !this.#undrained.has(def.name) };
    });
  }

  async pause(name: string): Promise<ModuleStatus> {
    const def = this.#controllable(name);
    const t = this.#transitions.get(name);
    if (t === "pausing" || t === "resuming") throw this.#inTransition(name, t);
    if (t === "paused" || this.#host.instanceId(name) === undefined)
      throw new ModuleControlError("ALREADY_PAUSED", `module ${name} is ${t ?? "not running"}`);
    // Set before any await: a second call made meanwhile sees the transition.
    this.#transitions.set(name, "pausing");
    return this.#track(this.#pause(def));
  }

  async #pause(def: ModuleDefinition): Promise<ModuleStatus> {
    const { name } = def;
    const { logger } = this.#host;
    logger.info({ module: name }, `pausing module ${name}: deregistering, draining requests and events, stopping its outbox relay`);
    // The in-process event stream keeps nothing for a consumer that is away (JetStream does).
    if (this.#host.eventsKind === "memory" && def.consumes.length > 0)
      logger.warn(
        { module: name, consumes: def.consumes },
        `events published to ${name} while it is paused are lost: the memory event stream is not durable (hand over on NATS)`,
      );
    const { drained, settled } = await this.#host.stop(name);
    this.#undrained.delete(name);
    if (!drained) {
      // Reported until the late work ends (or the module is resumed): the data is not settled yet.
      this.#undrained.set(name, settled);
      void settled.then(() => {
        if (this.#undrained.get(name) === settled) this.#undrained.delete(name);
        logger.info({ module: name }, `module ${name}: the work still running after DRAIN_TIMEOUT_MS has ended`);
      });
    }
    this.#transitions.set(name, "paused");
    return this.#statusOf(name);
  }

  async resume(name: string, opts: { force?: boolean } = {}): Promise<ModuleStatus> {
    const def = this.#controllable(name);
    const t = this.#transitions.get(name);
    if (t === "pausing" || t === "resuming") throw this.#inTransition(name, t);
    if (t !== "paused") throw new ModuleControlError("NOT_PAUSED", `module ${name} is running`);
    this.#transitions.set(name, "resuming");
    return this.#track(this.#resume(def, opts));
  }

  async #resume(def: ModuleDefinition, opts: { force?: boolean }): Promise<ModuleStatus> {
    const { name } = def;
    try {
      const others = opts.force ? [] : await this.#host.registered(name);
      if (others.length > 0)
        throw new ModuleControlError(
          "TAKEN_OVER",
          `module ${name} is served by another instance now (${others.join(", ")}): stop it first, or resume with force when every instance shares one database`,
        );
      await this.#host.start(def);
    } catch (err) {
      this.#transitions.set(name, "paused");
      throw err;
    }
    this.#transitions.delete(name);
    this.#undrained.delete(name);
    return this.#statusOf(name);
  }

  /**
   * Resolves once no pause or resume runs (their outcome does not matter here). The kernel's
   * stop awaits it before stopping modules; new ones are refused by then (NOT_STARTED).
   */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#inFlight]);
  }

  #track(p: Promise<ModuleStatus>): Promise<ModuleStatus> {
    this.#inFlight.add(p);
    const done = () => void this.#inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  #inTransition(name: string, t: "pausing" | "resuming"): ModuleControlError {
    return new ModuleControlError("IN_TRANSITION", `module ${name} is ${t}: wait until that ends`);
  }

  #statusOf(name: string): ModuleStatus {
    return this.list().find((m) => m.name === name) as ModuleStatus;
  }

  /** The definition of local module `name`; throws unless the kernel is started and has it. */
  #controllable(name: string): ModuleDefinition {
    const modules = this.#host.modules();
    const def = modules.find((m) => m.name === name);
    if (!def)
      throw new ModuleControlError(
        "UNKNOWN_MODULE",
        `no module ${name} in this process (modules: ${modules.map((m) => m.name).join(", ")})`,
      );
    const state = this.#host.state();
    if (state !== "started") throw new ModuleControlError("NOT_STARTED", `the process is ${state}: modules cannot be paused or resumed`);
    return def;
  }
}
