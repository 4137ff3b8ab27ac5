import type { Bus } from "./bus/types.ts";
import type { Config } from "./config.ts";
import type { EventStream } from "./events/types.ts";
import type { Logger } from "./logger.ts";
import type { Registry } from "./registry/types.ts";
import type { SupergraphStore } from "./supergraph-store/types.ts";
import { createMemoryBus } from "./bus/memory.ts";
import { createMemoryEventStream } from "./events/memory.ts";
import { createMemoryRegistry } from "./registry/memory.ts";
import { createMemorySupergraphStore } from "./supergraph-store/memory.ts";
// The split-mode transports (nats, etcd3 with gRPC and protobuf) are imported only when the
// config asks for them: evaluating those libraries is a large part of a monolith's cold start.

/** The infrastructure handles of one process, chosen by config. */
export interface Transports {
  bus: Bus;
  events: EventStream;
  registry: Registry;
  supergraphStore: SupergraphStore;
  /** Closes everything in the right order (events, bus drain, registry, store, then their shared etcd client). */
  close(): Promise<void>;
}

/**
 * Creates the bus, event stream, registry and supergraph store that `config` asks for:
 * memory (one process) or NATS + JetStream and etcd (split mode).
 * @throws when NATS or etcd cannot be reached at start.
 */
export async function createTransports(config: Config, logger: Logger, name: string): Promise<Transports> {
  let bus: Bus;
  let events: EventStream;
  if (config.bus.kind === "nats") {
    const [{ createNatsBus }, { createJetStreamEvents }] = await Promise.all([import("./bus/nats.ts"), import("./events/jetstream.ts")]);
    const nats = await createNatsBus({
      servers: config.bus.servers,
      name,
      // Replies and streams for this process arrive under its own prefix (per-part NATS permissions).
      inboxPrefix: (await import("./bus/nats-permissions.ts")).natsInboxPrefix(config.modules),
      logger: logger.child({ component: "nats" }),
      ...(config.nats.token ? { token: config.nats.token } : {}),
      ...(config.nats.user ? { user: config.nats.user } : {}),
      ...(config.nats.pass ? { pass: config.nats.pass } : {}),
      ...(config.nats.credsFile ? { credsFile: config.nats.credsFile } : {}),
      ...(config.nats.tlsCaFile || config.nats.tlsCertFile
        ? {
            tls: {
              ...(config.nats.tlsCaFile ? { caFile: config.nats.tlsCaFile } : {}),
              ...(config.nats.tlsCertFile ? { certFile: config.nats.tlsCertFile } : {}),
              ...(config.nats.tlsKeyFile ? { keyFile: config.nats.tlsKeyFile } : {}),
            },
          }
        : {}),
    });
    bus = nats;
    events = createJetStreamEvents(nats.connection, { logger: logger.child({ component: "jetstream" }) });
  } else {
    bus = createMemoryBus({ logger });
    events = createMemoryEventStream(bus, { logger });
  }
  let registry: Registry;
  let supergraphStore: SupergraphStore;
  let closeEtcd = (): void => {};
  if (config.registry.kind === "etcd") {
    const [{ createEtcdClient }, { createEtcdRegistry }, { createEtcdSupergraphStore }] = await Promise.all([
      import("./etcd/client.ts"),
      import("./registry/etcd.ts"),
      import("./supergraph-store/etcd.ts"),
    ]);
    // One etcd client (one gRPC connection per host) for the registry and the supergraph store.
    const client = createEtcdClient({ hosts: config.registry.hosts });
    closeEtcd = () => client.close();
    try {
      registry = await createEtcdRegistry({
        client,
        hosts: config.registry.hosts,
        ttlS: config.registryTtlS,
        logger: logger.child({ component: "etcd" }),
      });
      supergraphStore = await createEtcdSupergraphStore({
        client,
        hosts: config.registry.hosts,
        ttlS: config.registryTtlS,
        logger: logger.child({ component: "etcd" }),
      });
    } catch (err) {
      client.close();
      throw err;
    }
  } else {
    registry = createMemoryRegistry({ logger });
    supergraphStore = createMemorySupergraphStore();
  }
  return {
    bus,
    events,
    registry,
    supergraphStore,
    async close() {
      await events.close().catch((err: unknown) => logger.warn({ err }, "closing events failed"));
      await bus.drain().catch((err: unknown) => logger.warn({ err }, "draining the bus failed"));
      await registry.close().catch((err: unknown) => logger.warn({ err }, "closing the registry failed"));
      await supergraphStore.close().catch((err: unknown) => logger.warn({ err }, "closing the supergraph store failed"));
      closeEtcd();
    },
  };
}
