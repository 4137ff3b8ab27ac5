import type { GraphQLFieldResolver, GraphQLScalarType } from "graphql";
import type { Bus, Headers } from "./bus/types.ts";
import type { CommandDefinition, EventBase, EventDefinition } from "./contract/define.ts";
import type { Config, OptionSet } from "./config.ts";
import type { Identity } from "./identity.ts";
import type { Logger } from "./logger.ts";

/** Context every subgraph resolver receives (built by the subgraph server from bus headers). */
export interface SubgraphContext {
  /** Caller identity forwarded by the gateway (its signature verified), or null for anonymous calls. */
  identity: Identity | null;
  /** Request id assigned at the edge; also in every log line of this request. */
  requestId: string;
  /** Logger bound to module and request id. */
  logger: Logger;
  /** Raw bus headers of the subgraph request (to forward to further bus calls). */
  headers: Headers;
}

/** Resolver map in the shape `buildSubgraphSchema` accepts (incl. `__resolveReference`). */
export interface Resolvers {
  [typeName: string]:
    | {
        [fieldName: string]:
          | GraphQLFieldResolver<unknown, SubgraphContext>
          | { resolve?: GraphQLFieldResolver<unknown, SubgraphContext>; subscribe?: GraphQLFieldResolver<unknown, SubgraphContext> };
      }
    | GraphQLScalarType;
}

/** Metadata of a bus request or event delivered to a module handler. */
export interface HandlerMeta {
  subject: string;
  headers: Headers;
  /** Logger bound to module and request id (from headers when present). */
  logger: Logger;
  /** For events: 1 on first delivery, 2+ on redelivery. */
  deliveryCount?: number;
}

/**
 * What the kernel hands a module at start. Subscriptions made through `serve`/`on` are
 * tracked by the kernel: they join the module's queue group (so N instances share the load)
 * and are drained on stop before the module's own `stop` runs.
 */
export interface ModuleContext<O extends object = object> {
  readonly name: string;
  readonly bus: Bus;
  /** The kernel's configuration (ports, bus, storage, secrets): what every part of the process shares. */
  readonly config: Config;
  /** This module's own options, typed from its `options` schema (`z.infer`); `{}` for a module without options. */
  readonly options: O;
  readonly logger: Logger;
  /**
   * This module's database: `{ kind: "sqlite", path }` (default: `<DATA_DIR>/<module>.sqlite`)
   * or `{ kind: "postgres", url, poolMax }` (from `DATABASE_URL` / `<MODULE>_DATABASE_URL`).
   */
  readonly database: DatabaseConfig;
  /** Path of the SQLite file when `database.kind === "sqlite"` (kept for SQLite-only callers). */
  readonly databasePath: string;
  /**
   * True under `switchyard --migrate`: the module starts only to migrate and seed its database
   * and is stopped right after; it must start no background work (sweepers, saga resumers).
   */
  readonly migrateOnly: boolean;
  /**
   * Serves a command of this module's contract with a JSON handler in queue group `<module>`.
   * The kernel parses each request against `command.request` first: a malformed one is
   * answered `BAD_REQUEST` (counted in `switchyard_bus_invalid_payloads_total`) and never
   * reaches the handler. Throw `AppError` for expected failures: the caller receives the same code.
   * @throws Error when `command` is not in the module's contract (the start fails).
   */
  serve<Req, Res>(command: CommandDefinition<Req, Res>, handler: (req: Req, meta: HandlerMeta) => Res | Promise<Res>): void;
  /**
   * Consumes an event the module declares in `consumes` with a durable consumer named after
   * the module (one instance handles each event). At-least-once: a handler that throws gets the
   * event again, so it must be idempotent (deduplicate by `eventId`). The kernel parses each
   * event against `event.schema` first: a malformed one is counted, logged and acknowledged
   * without reaching the handler (it would fail the same way on every redelivery). Call during `start`.
   * @throws Error when `event` is not in the module's `consumes` (the start fails).
   */
  on<E extends EventBase>(event: EventDefinition<E>, handler: (event: E, meta: HandlerMeta) => void | Promise<void>): void;
  /**
   * Publishes an event of this module's contract (JSON) durably: resolves once stored
   * (JetStream) or handed to the memory bus. Its `eventId` is the deduplication id. `headers`
   * usually forwards the request id. Not parsed here (typed by the definition; consumers parse).
   * Rejects with a BusError when it could not be stored, with an Error when `event` is not in
   * the module's contract.
   */
  emit<E extends EventBase>(event: EventDefinition<E>, payload: E, headers?: Headers): Promise<void>;
  /**
   * Calls another module's command (JSON request/reply), through the subject's circuit breaker
   * (`subject:<subject>` at `/admin/health`); the reply is parsed against `command.reply`.
   * `idempotent: true` retries a timeout with exponential backoff and jitter: set it only for
   * lookups and for commands whose body carries an idempotency key, never for other commands.
   * While nobody serves the subject, any call (idempotent or not) waits for a responder until
   * its timeout (nothing received it; `bus/responder-wait.ts`); a call still unserved then is
   * one failure of the subject's breaker and is not retried.
   * @throws AppError with the responder's code (`BAD_REQUEST` when it refused the body's shape),
   *   or `BAD_REPLY` for a reply that does not match the contract; BusTimeoutError/NoRespondersError
   *   (nobody served it until the timeout) from the bus; CircuitOpenError (a BusError) while the subject's breaker is open.
   */
  call<Req, Res>(
    command: CommandDefinition<Req, Res>,
    body: Req,
    opts?: { headers?: Headers; timeoutMs?: number; idempotent?: boolean },
  ): Promise<Res>;
  /**
   * Starts the kernel's relay on this module's transactional outbox (`src/kernel/outbox`): the
   * events the module's store wrote in its transactions are published through the event
   * stream (JetStream, `Nats-Msg-Id` = event id) right after each commit and every
   * `OUTBOX_POLL_MS`. The kernel stops the relay after draining the module's subscriptions and
   * before the module's own `stop` (which closes the database). Call during `start`.
   */
  relayOutbox(source: import("./outbox/types.ts").OutboxSource): void;
}

/** Where a module keeps its data. */
export type DatabaseConfig =
  | { kind: "sqlite"; path: string }
  | { kind: "postgres"; url: string /** Max pool connections. */; poolMax: number };

/** What a started module returns. */
export interface ModuleInstance {
  /** Resolvers for the module's SDL. */
  resolvers: Resolvers;
  /** Releases the module's resources (close databases, timers). Called after its subscriptions drained. */
  stop?(): Promise<void> | void;
}

/**
 * A module: a folder with a small public surface (its `contract/`: SDL, subjects, events) and
 * a `register(kernel)` entry that hands this definition to the kernel.
 */
export interface ModuleDefinition<O extends object = object> {
  /** Lowercase name; also the subgraph name, queue group and `graphql.<name>` subject. */
  name: string;
  /**
   * The module's options (`src/modules/<m>/options.ts`): declared with their variable, flag,
   * default and description, parsed at load with everyone else's, handed to `start` as `ctx.options`.
   */
  options?: OptionSet<O>;
  /** Semver of the module. */
  version: string;
  /**
   * Modules this one calls at start or at run time: started first when in the same process. In
   * split mode its NATS user may request exactly their `subjects` (`bus/nats-permissions.ts`).
   */
  dependsOn: readonly string[];
  /** Federation v2 subgraph SDL. */
  typeDefs: string;
  /**
   * Request/reply subjects served (besides `graphql.<name>`), for the registry and the NATS
   * permissions (only this module may serve them; only modules depending on it may request them).
   * Derived from the module's contract by `defineModule`; the kernel fails the start when the
   * module does not serve exactly these.
   */
  subjects: readonly string[];
  /** Event subjects published (only this module's NATS user may publish them); derived from the contract. */
  publishes: readonly string[];
  /**
   * Event subjects consumed (its NATS user may pull and ack only its own durable consumers of
   * them); derived from `defineModule`'s `consumes`. The kernel fails the start when the module
   * does not consume exactly these.
   */
  consumes: readonly string[];
  /**
   * The module's database, for tools that work on it without starting the module (the data
   * move, `switchyard data copy`): its migrations and the tables they keep themselves.
   * Optional: a module without a database has none.
   */
  storage?: ModuleStorage;
  start(ctx: ModuleContext<O>): Promise<ModuleInstance>;
}

/** What a module keeps in its own database ({@link ModuleDefinition.storage}). */
export interface ModuleStorage {
  /** The module's migrations, the same list its store applies at start. */
  readonly migrations: readonly import("./storage/migrations.ts").Migration[];
  /**
   * Tables maintained by triggers or migrations from the other tables (e.g. catalog's
   * `search_state`), possibly with different columns per dialect: never copied, the target's
   * own triggers rebuild them as the copied rows arrive.
   */
  readonly derived?: readonly string[];
}

/**
 * A non-module part of the process (the gateway): started after the modules of the same
 * process, stopped before them.
 */
export interface PartDefinition<O extends object = object> {
  name: string;
  /** The part's options (the gateway's: `src/gateway/options.ts`), handed to `start` as `ctx.options`. */
  options?: OptionSet<O>;
  start(ctx: PartContext<O>): Promise<{ stop(): Promise<void> }>;
}

/** What the kernel hands a part. */
export interface PartContext<O extends object = object> {
  readonly bus: Bus;
  readonly registry: import("./registry/types.ts").Registry;
  readonly config: Config;
  /** The part's own options, typed from its `options` schema. */
  readonly options: O;
  readonly logger: Logger;
  /** Names of the modules this process runs. */
  readonly localModules: readonly string[];
  /** Where the composed supergraph is stored and the aggregator elected. */
  readonly supergraphStore: import("./supergraph-store/types.ts").SupergraphStore;
  /**
   * The NATS connection under the bus in split mode (undefined with the memory bus), for JetStream
   * features beyond the bus (e.g. the gateway's rate-limit KV bucket) without a second connection.
   * Do not close it: the kernel's transports own it.
   */
  readonly natsConnection?: import("nats").NatsConnection | undefined;
  /** Signs the caller identity the gateway forwards to subgraphs (the kernel's, one key per process). */
  readonly busIdentity: import("./bus-identity.ts").BusIdentity;
  /** Pause and resume of this process's modules (the gateway serves them on its operations listener). */
  readonly modules: import("./module-control.ts").ModuleControl;
}

/** Subject on which a module's subgraph executes GraphQL requests (request/reply). */
export const subgraphSubject = (module: string): string => `graphql.${module}`;
