/**
 * Pausing and resuming one module of a running process (the per-module hand-over): what the
 * kernel offers its parts and the operations listener, the states a module goes through, and
 * the errors with their stable codes. The mechanics are the kernel's (kernel.ts); the HTTP
 * surface is `module-admin.ts`.
 */

/**
 * State of a module of this process:
 * - `running`: serving its requests, consuming its events, relaying its outbox, registered;
 * - `pausing`: being handed over (deregistered, draining; see {@link ModuleControl.pause});
 * - `paused`: quiescent: nothing served or consumed, relay stopped, store closed, not registered;
 * - `resuming`: starting again (see {@link ModuleControl.resume}).
 */
export type ModuleState = "running" | "pausing" | "paused" | "resuming";

/** One module of this process, as `GET /admin/modules` lists it. */
export interface ModuleStatus {
  name: string;
  state: ModuleState;
  /** The registry instance id while registered (running), else null. */
  instanceId: string | null;
  /**
   * False while work of the module may still run although its pause returned: the pause gave
   * up waiting for in-flight requests or event handlers after DRAIN_TIMEOUT_MS and closed the
   * store under them (also false while `pausing`). Do not copy the module's data then: it turns
   * true once that work ended, or resume the module. True otherwise.
   */
  drained: boolean;
}

/** Stable codes of {@link ModuleControlError}, with the HTTP status the admin endpoints answer. */
export const MODULE_CONTROL_STATUS = {
  /** No module of that name runs in this process. */
  UNKNOWN_MODULE: 404,
  /** Pausing a module that is paused. */
  ALREADY_PAUSED: 409,
  /** Resuming a module that is running. */
  NOT_PAUSED: 409,
  /** Pausing or resuming a module while its pause or resume runs (`pausing`, `resuming`). */
  IN_TRANSITION: 409,
  /** The process is not started (still starting, or stopping; a resume under way when the process stops is refused so). */
  NOT_STARTED: 409,
  /** Resuming a module another instance serves now (it took over; `force` resumes anyway). */
  TAKEN_OVER: 409,
} as const;

/** Code of a {@link ModuleControlError}. */
export type ModuleControlCode = keyof typeof MODULE_CONTROL_STATUS;

/** A pause or resume refused; `code` is stable (see {@link MODULE_CONTROL_STATUS}). */
export class ModuleControlError extends Error {
  override readonly name = "ModuleControlError";
  constructor(
    readonly code: ModuleControlCode,
    message: string,
  ) {
    super(message);
  }
}

/** Pause and resume of this process's modules (implemented by the kernel). */
export interface ModuleControl {
  /** Every module of this process, in start order. */
  list(): ModuleStatus[];
  /**
   * Hands module `name` over: deregisters this instance, stops taking its requests (its
   * request/reply subscriptions, `graphql.<name>` included, drained: in-flight requests finish,
   * new ones wait on the bus for another responder), stops its event consumers (events not
   * started go back to the stream, running handlers finish and ack), stops its outbox relay after
   * the current pass, then stops the module (its store closes). Draining is bounded by
   * DRAIN_TIMEOUT_MS, as at shutdown: past it the module is stopped anyway and the status says
   * `drained: false` (work may still run; see {@link ModuleStatus.drained}).
   * A process stopping meanwhile waits for the pause to end before it closes anything.
   * @returns the module's status once it is stopped (`paused`).
   * @throws ModuleControlError UNKNOWN_MODULE (no such module here), NOT_STARTED (the process is
   *   starting or stopping), ALREADY_PAUSED (it is paused), IN_TRANSITION (its pause or resume
   *   runs now).
   */
  pause(name: string): Promise<ModuleStatus>;
  /**
   * Starts a paused module again in this process (rollback of a hand-over before anything else
   * took over): as at start, its subscriptions, consumers and relay, then a new registration.
   * Refused while another instance of the module is registered (it took over, maybe on another
   * database: serving from both would split the module's data) unless `opts.force` (instances of
   * one module on one shared database).
   * A process stopping meanwhile waits for the resume to end; a resume that finds the process
   * stopping before the module runs again is refused (NOT_STARTED) and the module stays paused.
   * @returns the module's status (`running`).
   * @throws ModuleControlError UNKNOWN_MODULE (no such module here), NOT_STARTED (the process is
   *   starting or stopping), NOT_PAUSED (it runs), IN_TRANSITION (its pause or resume runs now),
   *   TAKEN_OVER (another instance is registered; `force` resumes anyway); the module's start
   *   error (it stays paused).
   */
  resume(name: string, opts?: { force?: boolean }): Promise<ModuleStatus>;
}
