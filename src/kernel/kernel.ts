import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { join } from "node:path";
import type { GraphQLResolverMap } from "@apollo/subgraph/dist/schema-helper";
import { ModuleMessaging } from "./contract/messaging.ts";
import { AppError } from "./errors.ts";
import type { Bus, Subscription } from "./bus/types.ts";
import { type Config, declaredOptions, kernelOptions, optionsFrom, type ParseContext } from "./config.ts";
import { newId } from "./ids.ts";
import type { Logger } from "./logger.ts";
import {
  subgraphSubject,
  type DatabaseConfig,
  type ModuleContext,
  type ModuleDefinition,
  type ModuleInstance,
  type PartDefinition,
} from "./module.ts";
import type { Registration, Registry } from "./registry/types.ts";
import type { SupergraphStore } from "./supergraph-store/types.ts";
import { createMemorySupergraphStore } from "./supergraph-store/memory.ts";
import type { EventStream } from "./events/types.ts";
import { createMemoryEventStream } from "./events/memory.ts";
import { serveSubgraph, subgraphStreamSubject } from "./subgraph/server.ts";
import { subgraphSchema } from "./subgraph/schema.ts";
import { OutboxRelay } from "./outbox/relay.ts";
import { instrumentBus } from "./bus/instrumented.ts";
import type { NatsConnection } from "nats";
import { createCallPolicy, type CallPolicy } from "./policy/index.ts";
import { instrumentEvents } from "./events/instrumented.ts";
import { BusIdentity, resolveBusSigningKey } from "./bus-identity.ts";
import { startOrder } from "./start-order.ts";
import { ModuleControlError, type ModuleControl } from "./module-control.ts";
import { ModuleHandover, type ModuleStopResult } from "./module-handover.ts";

export interface KernelOptions {
  bus: Bus;
  registry: Registry;
  config: Config;
  logger: Logger;
  /** Supergraph store for the gateway part (memory in one process, etcd in split mode). */
  supergraphStore?: SupergraphStore;
  /** Durable events (JetStream in split mode); default: memory events over `bus`. */
  events?: EventStream;
  /** Database of each module; default `<DATA_DIR>/<module>.sqlite`. */
  databaseFor?: (module: string) => DatabaseConfig;
  /**
   * `--migrate`: modules start only to migrate (and seed) their databases on a private bus, so
   * no background work may run: `ctx.relayOutbox` does nothing (publishing on that bus would
   * mark real events sent and lose them) and `ctx.migrateOnly` tells modules to skip theirs.
   */
  migrateOnly?: boolean;
}

interface Running {
  def: ModuleDefinition;
  instance: ModuleInstance;
  subscriptions: Subscription[];
  registration: Registration | undefined;
  /** Outbox relays started by the module (`ctx.relayOutbox`). */
  relays: OutboxRelay[];
}

export { startOrder };

/** sha256 hex of an SDL string; what the registry stores as `sdlHash`. */
export function sdlHash(sdl: string): string {
  return createHash("sha256").update(sdl).digest("hex");
}

/**
 * The kernel: owns the bus and registry handles of a process, starts its modules in
 * dependency order (each: start → serve its subgraph on `graphql.<name>` → register), then
 * its parts (the gateway); stops everything in reverse, draining in-flight requests.
 */
export class Kernel {
  readonly bus: Bus;
  readonly registry: Registry;
  readonly config: Config;
  readonly logger: Logger;
  readonly supergraphStore: SupergraphStore;
  /**
   * Signs (gateway) and verifies (subgraph servers) the caller identity on the bus, with
   * BUS_SIGNING_KEY (or the key derived from JWT_SECRET); see `bus-identity.ts`.
   */
  readonly busIdentity: BusIdentity;
  /** The NATS connection under the (undecorated) transport bus, if it is NATS; handed to parts. */
  private natsConnection: NatsConnection | undefined;
  /** The transport bus as given (undecorated), to find its NATS connection at start. */
  private readonly transportBus: Bus;
  readonly events: EventStream;
  private readonly databaseFor: (module: string) => DatabaseConfig;
  private readonly migrateOnly: boolean;
  /** Requests handled by this process, by served subject (`graphql.catalog`, ...). */
  readonly handled = new Map<string, number>();
  private readonly modules: ModuleDefinition[] = [];
  private readonly parts: PartDefinition[] = [];
  private running: Running[] = [];
  private runningParts: { name: string; stop(): Promise<void> }[] = [];
  private state: "new" | "starting" | "started" | "stopping" | "stopped" = "new";
  /** The call policy of `ctx.call` per subject (breaker `subject:<subject>`). */
  private readonly callPolicies = new Map<string, CallPolicy>();

  constructor(opts: KernelOptions) {
    // Every bus use of the kernel, its modules and parts goes through the instrumented bus
    // (metrics, tracing, request ids, per-subject timeouts); transports stay untouched.
    this.bus = instrumentBus(opts.bus, { timeouts: opts.config.busTimeouts });
    this.transportBus = opts.bus;
    this.registry = opts.registry;
    this.config = opts.config;
    this.logger = opts.logger;
    this.supergraphStore = opts.supergraphStore ?? createMemorySupergraphStore();
    this.busIdentity = new BusIdentity({ key: resolveBusSigningKey(opts.config), ttlMs: opts.config.busIdentityTtlMs });
    this.events = instrumentEvents(opts.events ?? createMemoryEventStream(opts.bus, { logger: opts.logger }));
    this.migrateOnly = opts.migrateOnly ?? false;
    this.databaseFor = opts.databaseFor ?? ((m) => ({ kind: "sqlite", path: join(this.config.dataDir, `${m}.sqlite`) }));
    this.handoverControl = this.handover();
    this.modulesControl = this.handoverControl;
  }

  private callPolicy(subject: string): CallPolicy {
    let policy = this.callPolicies.get(subject);
    if (!policy) {
      policy = createCallPolicy({ target: `subject:${subject}`, isAnswer: (err) => err instanceof AppError });
      this.callPolicies.set(subject, policy);
    }
    return policy;
  }

  /** Adds a module (what a module's `register(kernel)` calls). Throws on duplicates or after start. */
  addModule(def: ModuleDefinition): void {
    if (this.state !== "new") throw new Error("modules must be added before start");
    if (this.modules.some((m) => m.name === def.name)) throw new Error(`module ${def.name} added twice`);
    this.modules.push(def);
  }

  /** Adds a part (the gateway). */
  addPart(def: PartDefinition): void {
    if (this.state !== "new") throw new Error("parts must be added before start");
    this.parts.push(def);
  }

  /** Names of the modules added to this kernel. */
  get moduleNames(): string[] {
    return this.modules.map((m) => m.name);
  }

  /**
   * Starts modules then parts. If any fails, what already started is stopped and the error
   * is re-thrown.
   */
  async start(): Promise<void> {
    if (this.state !== "new") throw new Error(`kernel already ${this.state}`);
    this.state = "starting";
    try {
      // Imported here, and only for a NATS bus: the memory-bus monolith never loads nats.js.
      if (this.transportBus.transport === "nats")
        this.natsConnection = (await import("./bus/nats.ts")).natsConnectionOf(this.transportBus) ?? undefined;
      // Every owner's keys share one namespace of values: refuse a module or part that redeclares one.
      declaredOptions([kernelOptions, ...[...this.modules, ...this.parts].flatMap((d) => (d.options ? [d.options] : []))]);
      for (const def of startOrder(this.modules)) await this.startModule(def);
      for (const part of this.parts) {
        const log = this.logger.child({ module: part.name });
        const handle = await part.start({
          bus: this.bus,
          registry: this.registry,
          config: this.config,
          options: this.optionsOf(part),
          logger: log,
          localModules: this.moduleNames,
          supergraphStore: this.supergraphStore,
          natsConnection: this.natsConnection,
          busIdentity: this.busIdentity,
          modules: this.modulesControl,
        });
        this.runningParts.push({ name: part.name, stop: () => handle.stop() });
      }
      this.state = "started";
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /**
   * The options of a module or part: its keys of the config (a loaded config holds every declared
   * option; a hand-built one may not), defaults for the keys missing there.
   */
  private optionsOf(def: ModuleDefinition | PartDefinition): object {
    if (!def.options) return {};
    const ctx: ParseContext = { parts: [...this.moduleNames, ...this.parts.map((p) => p.name)] };
    return optionsFrom(def.options, this.config as unknown as Readonly<Record<string, unknown>>, ctx);
  }

  /** @param resuming a resume (after kernel start): refused once the kernel began stopping. */
  private async startModule(def: ModuleDefinition, resuming = false): Promise<void> {
    const log = this.logger.child({ module: def.name });
    const queue = def.name;
    const database = this.databaseFor(def.name);
    const messaging = new ModuleMessaging({
      def,
      bus: this.bus,
      events: this.events,
      logger: log,
      onHandled: (subject) => this.handled.set(subject, (this.handled.get(subject) ?? 0) + 1),
      callPolicy: (subject) => this.callPolicy(subject),
    });
    const relays: OutboxRelay[] = [];
    const ctx: ModuleContext = {
      name: def.name,
      bus: this.bus,
      config: this.config,
      options: this.optionsOf(def),
      logger: log,
      database,
      databasePath: database.kind === "sqlite" ? database.path : join(this.config.dataDir, `${def.name}.sqlite`),
      serve: messaging.serve,
      on: messaging.on,
      emit: messaging.emit,
      call: messaging.call,
      migrateOnly: this.migrateOnly,
      relayOutbox: (source) => {
        if (this.migrateOnly) return;
        const relay = new OutboxRelay({
          source,
          events: this.events,
          logger: log.child({ component: "outbox" }),
          pollMs: this.config.outboxPollMs,
          faultInject: this.config.faultInject,
        });
        relays.push(relay);
        relay.start();
      },
    };
    await this.events.declare(def.name, def.publishes);
    let instance: ModuleInstance;
    try {
      instance = await def.start(ctx);
    } catch (err) {
      // The module closes its own resources on a failed start; its relays and subscriptions are the kernel's.
      await Promise.all([...relays.map((relay) => relay.stop()), messaging.close()]);
      throw err;
    }
    const subscriptions = [...messaging.subscriptions, ...(await Promise.all(messaging.pendingConsumers))];
    const running: Running = { def, instance, subscriptions, registration: undefined, relays };
    // A resume racing the kernel's stop: once stop began (it waits for this resume), the module
    // must not join `running` (already stopped, or about to be), so it is stopped here.
    if (resuming && this.state !== "started") {
      await this.stopRunning(running, "stopped again: the process is stopping");
      throw new ModuleControlError("NOT_STARTED", `the process is ${this.state}: module ${def.name} stays paused`);
    }
    this.running.push(running);
    // After `running` holds them, so a failed check stops the module and drains what it started.
    messaging.checkDeclared();

    const typeDefsHash = sdlHash(def.typeDefs);
    // buildSubgraphSchema's result, from the completion embedded at build time when there is one.
    const schema = await subgraphSchema(typeDefsHash, def.typeDefs, instance.resolvers as GraphQLResolverMap<unknown>);
    const gqlSubject = subgraphSubject(def.name);
    subscriptions.push(
      serveSubgraph({
        bus: this.bus,
        subject: gqlSubject,
        queue,
        schema,
        logger: log,
        identity: this.busIdentity,
        heartbeatMs: this.config.subscriptionHeartbeatMs,
        onRequest: () => this.handled.set(gqlSubject, (this.handled.get(gqlSubject) ?? 0) + 1),
      }),
    );
    // The registry entry tells gateways to send requests here: every subscription above must
    // be live on the server first (a NATS SUB takes effect once the server read it), or the
    // aggregator's first SDL fetch meets "no responders".
    await this.bus.flush();
    running.registration = await this.registry.register({
      name: def.name,
      instanceId: newId(),
      version: def.version,
      subjects: [subgraphSubject(def.name), subgraphStreamSubject(def.name), ...def.subjects],
      sdlHash: typeDefsHash,
      metadata: {
        host: hostname(),
        pid: String(process.pid),
        startedAt: new Date().toISOString(),
        ...(process.env["FLY_REGION"] ? { region: process.env["FLY_REGION"] } : {}),
      },
    });
    log.info({ version: def.version, subjects: running.registration.instance.subjects }, `module ${def.name} started`);
  }

  /**
   * Pause and resume of this process's modules (module-control.ts), handed to parts
   * (`PartContext.modules`: the gateway's operations listener) and to a module-only process's.
   */
  readonly modulesControl: ModuleControl;
  private readonly handoverControl: ModuleHandover;

  private handover(): ModuleHandover {
    return new ModuleHandover({
      modules: () => startOrder(this.modules),
      state: () => this.state,
      instanceId: (name) => {
        const r = this.running.find((x) => x.def.name === name);
        return r ? (r.registration?.instance.instanceId ?? null) : undefined;
      },
      stop: async (name) => {
        const r = this.running.find((x) => x.def.name === name);
        if (!r) return { drained: true, settled: Promise.resolve() };
        this.running = this.running.filter((x) => x !== r);
        return this.stopRunning(r, "paused");
      },
      start: async (def) => {
        try {
          await this.startModule(def, true);
        } catch (err) {
          // What the failed start left running (startModule pushed it) is stopped again.
          const left = this.running.find((x) => x.def === def);
          this.running = this.running.filter((x) => x !== left);
          if (left) await this.stopRunning(left, "stopped after a failed resume");
          throw err;
        }
        // Back in start order, so a later stop takes the modules down in reverse dependency order.
        const order = startOrder(this.modules);
        this.running.sort((a, b) => order.indexOf(a.def) - order.indexOf(b.def));
      },
      registered: async (name) => (await this.registry.list(name)).map((i) => i.instanceId),
      eventsKind: this.events.kind,
      logger: this.logger,
    });
  }

  /**
   * Stops one running module: deregister, drain its subscriptions (request/reply and event
   * consumers; in-flight work finishes, bounded by DRAIN_TIMEOUT_MS), stop its outbox relays
   * (after their current pass), then the module's own `stop` (closes its store). Never throws.
   * @returns whether the drain ended in time, and a promise of its end (late work included).
   */
  private async stopRunning(r: Running, what = "stopped"): Promise<ModuleStopResult> {
    const log = this.logger.child({ module: r.def.name });
    let drain: Promise<unknown> = Promise.resolve();
    let drained = true;
    try {
      await r.registration?.deregister();
      drain = Promise.all(r.subscriptions.map((s) => s.drain()));
      drained = await withTimeout(drain, this.config.drainTimeoutMs);
      if (!drained)
        log.warn(
          { drainTimeoutMs: this.config.drainTimeoutMs },
          "requests or event handlers still running after DRAIN_TIMEOUT_MS; stopping anyway",
        );
      // After the subscriptions drained (no handler writes any more), before the database closes.
      await Promise.all(r.relays.map((relay) => relay.stop()));
      await r.instance.stop?.();
      log.info(`module ${r.def.name} ${what}`);
    } catch (err) {
      log.error({ err }, `module ${r.def.name} could not be ${what} cleanly`);
    }
    return { drained, settled: drain.then(noop, noop) };
  }

  /**
   * Stops parts, then modules in reverse start order: deregister, drain the module's
   * subscriptions (waiting for in-flight requests, bounded by DRAIN_TIMEOUT_MS), then the
   * module's own `stop`. Idempotent; never throws (failures are logged).
   */
  async stop(): Promise<void> {
    if (this.state === "stopping" || this.state === "stopped") return;
    this.state = "stopping";
    // A pause or resume under way finishes first (new ones are refused now): its module is then
    // either in `running` (stopped below) or stopped, and no drain outlives this stop.
    await this.handoverControl.settled();
    for (const part of this.runningParts.reverse()) {
      try {
        await part.stop();
      } catch (err) {
        this.logger.error({ err, module: part.name }, "part stop failed");
      }
    }
    this.runningParts = [];
    for (const r of this.running.reverse()) await this.stopRunning(r);
    this.running = [];
    this.state = "stopped";
  }
}

const noop = (): void => {};

/** Whether `p` settled within `ms` (it keeps running either way). */
async function withTimeout(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const settled = await Promise.race([
    p.then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  return settled;
}
