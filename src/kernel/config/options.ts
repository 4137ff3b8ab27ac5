import { z } from "zod";
import { LOG_LEVELS } from "../logger.ts";
import { ConfigError, defineOptions, type OptionsOf, option } from "./option.ts";
import {
  checkParts,
  commaList,
  hostName,
  int,
  matching,
  must,
  oneOf,
  orUnset,
  parseBusTimeouts,
  parseDatabaseUrl,
  parsed,
} from "./parsers.ts";

/** Bus transport: in-process, or NATS servers (`nats://host:port`). */
export type BusConfig = { kind: "memory" } | { kind: "nats"; servers: string[] };
/** Service registry: in-process, or etcd endpoints (`http://host:port`). */
export type RegistryConfig = { kind: "memory" } | { kind: "etcd"; hosts: string[] };

const HOSTPORT = /^[A-Za-z0-9.-]+:\d{1,5}$/;

function parseBus(raw: string): BusConfig {
  if (raw === "memory") return { kind: "memory" };
  const servers = raw.split(",").map((s) => s.trim());
  for (const s of servers) {
    if (!s.startsWith("nats://") || !HOSTPORT.test(s.slice("nats://".length)))
      throw new ConfigError("memory | nats://host:port[,nats://host:port...]");
  }
  return { kind: "nats", servers };
}

function parseRegistry(raw: string): RegistryConfig {
  if (raw === "memory") return { kind: "memory" };
  const hosts = raw
    .split(",")
    .map((s) => s.trim())
    .map((s) => {
      if (!s.startsWith("etcd://") || !HOSTPORT.test(s.slice("etcd://".length)))
        throw new ConfigError("memory | etcd://host:port[,etcd://host:port...]");
      return `http://${s.slice("etcd://".length)}`;
    });
  return { kind: "etcd", hosts };
}

/** A NATS auth/TLS setting: any string, empty = not set. */
const natsText = () => orUnset(z.string());

/**
 * The kernel's options: what every process needs whatever it runs (parts, bus, registry,
 * storage, secrets, observability, shutdown). The gateway's and each module's options live
 * next to their code (`src/gateway/options.ts`, `src/modules/<m>/options.ts`).
 */
export const kernelOptions = defineOptions(
  "kernel",
  {
    modules: option(parsed(commaList), {
      env: "MODULES",
      flag: "--modules",
      default: "all",
      allowed: (ctx) => `all | all,-name[,-name...] (all but those) | ${ctx.parts.join(",")} (comma list)`,
      describe:
        "Which parts this process runs (modules and/or gateway). all,-catalog runs every part but catalog: the monolith once a module moved to a process of its own.",
      refine: (list, ctx) => checkParts(list, ctx.parts),
    }),
    port: option(int(0, 65535), {
      env: "PORT",
      flag: "--port",
      default: "4000",
      allowed: "0-65535",
      describe: "HTTP port of the gateway.",
    }),
    host: option(hostName(), {
      env: "HOST",
      flag: "--host",
      default: "127.0.0.1",
      allowed: "IP address or host name",
      describe: "Interface the gateway binds to (0.0.0.0 inside containers).",
    }),
    dataDir: option(matching(/\S/, "a non-empty directory path"), {
      env: "DATA_DIR",
      flag: "--data-dir",
      default: "./data",
      allowed: "directory path",
      describe: "Where embedded SQLite databases and generated secrets live.",
    }),
    /** HS256 secret; undefined means "generate one and keep it in DATA_DIR" (NODE_ENV=development only; see secrets.ts). */
    // No default: unset is undefined, but an empty JWT_SECRET is refused like any short one.
    jwtSecret: option(
      parsed((raw): string | undefined => must(z.string().min(32, { error: "at least 32 characters" }), raw)),
      {
        env: "JWT_SECRET",
        flag: "--jwt-secret",
        allowed: "at least 32 characters",
        describe: "HS256 signing secret. Unset: generated once into DATA_DIR/jwt-secret (development only).",
      },
    ),
    logLevel: option(oneOf(LOG_LEVELS), {
      env: "LOG_LEVEL",
      flag: "--log-level",
      default: "info",
      allowed: LOG_LEVELS.join(" | "),
      describe: "Minimum log level.",
    }),
    drainTimeoutMs: option(int(0, 600_000), {
      env: "DRAIN_TIMEOUT_MS",
      flag: "--drain-timeout-ms",
      default: "10000",
      allowed: "0-600000 (ms)",
      describe: "How long shutdown waits for in-flight requests.",
    }),
    subscriptionHeartbeatMs: option(int(100, 60_000), {
      env: "SUBSCRIPTION_HEARTBEAT_MS",
      flag: "--subscription-heartbeat-ms",
      default: "5000",
      allowed: "100-60000 (ms)",
      describe:
        "Heartbeat of subscription streams between gateway and subgraphs; a side silent for 3 intervals ends the subscription with SUBGRAPH_UNAVAILABLE.",
    }),
    bus: option(parsed(parseBus), {
      env: "BUS",
      flag: "--bus",
      default: "memory",
      allowed: "memory | nats://host:port[,nats://host:port...]",
      describe: "Bus transport: in-process, or NATS (JetStream for durable events).",
    }),
    /** NATS auth/TLS (only with `bus.kind === "nats"`). */
    nats: z.object({
      token: option(natsText(), {
        env: "NATS_TOKEN",
        flag: "--nats-token",
        default: "",
        allowed: "token string",
        describe: "NATS token auth.",
      }),
      user: option(natsText(), {
        env: "NATS_USER",
        flag: "--nats-user",
        default: "",
        allowed: "user name",
        describe: "NATS user (with NATS_PASS).",
      }),
      pass: option(natsText(), { env: "NATS_PASS", flag: "--nats-pass", default: "", allowed: "password", describe: "NATS password." }),
      /** Path of a `.creds` file (JWT + nkey seed). */
      credsFile: option(natsText(), {
        env: "NATS_CREDS",
        flag: "--nats-creds",
        default: "",
        allowed: "path of a .creds file",
        describe: "NATS decentralised auth (JWT + nkey) credentials file.",
      }),
      tlsCaFile: option(natsText(), {
        env: "NATS_TLS_CA",
        flag: "--nats-tls-ca",
        default: "",
        allowed: "PEM file path",
        describe: "CA certificate to verify NATS servers (enables TLS).",
      }),
      tlsCertFile: option(natsText(), {
        env: "NATS_TLS_CERT",
        flag: "--nats-tls-cert",
        default: "",
        allowed: "PEM file path",
        describe: "Client certificate for NATS mutual TLS.",
      }),
      tlsKeyFile: option(natsText(), {
        env: "NATS_TLS_KEY",
        flag: "--nats-tls-key",
        default: "",
        allowed: "PEM file path",
        describe: "Client key for NATS mutual TLS.",
      }),
    }),
    registry: option(parsed(parseRegistry), {
      env: "REGISTRY",
      flag: "--registry",
      default: "memory",
      allowed: "memory | etcd://host:port[,etcd://host:port...]",
      describe: "Service registry: in-process, or etcd (leases, watch, supergraph store).",
    }),
    registryTtlS: option(int(1, 300), {
      env: "REGISTRY_TTL_S",
      flag: "--registry-ttl-s",
      default: "10",
      allowed: "1-300 (seconds)",
      describe: "etcd lease TTL: a dead instance disappears within this time.",
    }),
    /** `DATABASE_URL`: shared database for every module; undefined = SQLite files in DATA_DIR. */
    databaseUrl: option(orUnset(parsed(parseDatabaseUrl)), {
      env: "DATABASE_URL",
      flag: "--database-url",
      default: "",
      allowed: "sqlite:<path> | postgres://user:pass@host:port/db",
      describe:
        "Database of every module (unset: SQLite files in DATA_DIR). A shared postgres URL gives each module its own schema; sqlite:<dir> one file per module in <dir>.",
    }),
    dbPoolMax: option(int(1, 200), {
      env: "DB_POOL_MAX",
      flag: "--db-pool-max",
      default: "10",
      allowed: "1-200",
      describe: "Max PostgreSQL connections per module.",
    }),
    /** Per-subject request timeouts (first matching pattern wins), ms. */
    busTimeouts: option(parsed(parseBusTimeouts), {
      env: "BUS_TIMEOUTS",
      flag: "--bus-timeouts",
      default: "",
      allowed: "comma list of <subject pattern>=<ms>, e.g. catalog.stock.*=2000,graphql.*=10000",
      describe:
        "Per-subject bus request timeouts (NATS wildcards; the first matching pattern wins over the caller's timeout, else 5000 ms or the caller's own, e.g. SUBGRAPH_TIMEOUT_MS). A request nobody serves (a module paused for a hand-over) waits for a responder within it.",
    }),
    breakerFailures: option(int(1, 1000), {
      env: "BREAKER_FAILURES",
      flag: "--breaker-failures",
      default: "5",
      allowed: "1-1000",
      describe:
        "Consecutive failures that open the circuit breaker of a subgraph or subject: request timeouts, and requests that found no responder during their whole wait (a module down for longer than a caller waits; a shorter absence, e.g. a hand-over, counts nothing).",
    }),
    breakerResetMs: option(int(100, 600_000), {
      env: "BREAKER_RESET_MS",
      flag: "--breaker-reset-ms",
      default: "5000",
      allowed: "100-600000 (ms)",
      describe: "How long an open circuit breaker fails fast before letting one trial request through (half-open).",
    }),
    /** OTLP/HTTP collector base URL; undefined = spans not exported. */
    otlpEndpoint: option(orUnset(matching(/^https?:\/\/[^\s/]+(\/\S*)?$/, "http(s)://host:port[/path]")), {
      env: "OTEL_EXPORTER_OTLP_ENDPOINT",
      flag: "--otlp-endpoint",
      default: "",
      allowed: "http(s)://host:port[/path]",
      describe: "OpenTelemetry collector (OTLP/HTTP, JSON); traces go to <endpoint>/v1/traces. Unset: tracing is not exported.",
    }),
    outboxPollMs: option(int(10, 60_000), {
      env: "OUTBOX_POLL_MS",
      flag: "--outbox-poll-ms",
      default: "1000",
      allowed: "10-60000 (ms)",
      describe: "Poll interval of the transactional-outbox relay (it also wakes on every commit).",
    }),
    /** Test-only fault injection point (e.g. `outbox.after_commit[:<subject>]`); undefined = none. */
    faultInject: option(orUnset(matching(/^outbox\.after_commit(:[\w.]+)?$/, "outbox.after_commit[:<subject>]")), {
      env: "FAULT_INJECT",
      flag: "--fault-inject",
      default: "",
      allowed: "outbox.after_commit[:<subject>]",
      describe: "TEST ONLY: outbox.after_commit kills the process (SIGKILL) right after an outbox commit, before the publish.",
    }),
    /** `production` (default) unless the operator asks for `development` (see {@link isDevelopment}). */
    nodeEnv: option(matching(/^[\w-]{1,32}$/, "a word such as production or development"), {
      env: "NODE_ENV",
      flag: "--node-env",
      default: "production",
      allowed: "production | development | test | ...",
      describe:
        "Environment; anything but development is run as production: GraphiQL, introspection, subgraph timings, original messages of internal errors and the generated JWT secret are development aids, on only with development (npm start sets it); response-cache metadata too.",
    }),
    opsPort: option(int(0, 65535), {
      env: "OPS_PORT",
      flag: "--ops-port",
      default: "9091",
      allowed: "0-65535 (0 = pick a free port)",
      describe:
        "Port of the operations listener: /metrics (Prometheus) and /admin/* (admin token required); the public PORT answers 404 for them.",
    }),
    opsHost: option(hostName(), {
      env: "OPS_HOST",
      flag: "--ops-host",
      default: "127.0.0.1",
      allowed: "IP address or host name",
      describe:
        "Interface of the operations listener; keep it off the public interface (Fly: fly-local-6pn, reached by Fly's metrics scraper on the private network).",
    }),
    /** HMAC key of forwarded caller identities; undefined = derived from the JWT secret (see bus-identity.ts). */
    busSigningKey: option(orUnset(z.string().min(32, { error: "at least 32 characters" })), {
      env: "BUS_SIGNING_KEY",
      flag: "--bus-signing-key",
      default: "",
      allowed: "at least 32 characters (required with BUS=nats://... unless NODE_ENV=development)",
      describe:
        "Shared key every process signs (gateway) and verifies (modules) the caller identity on the bus with (HMAC-SHA256); a forged or unsigned sy-identity is refused with UNAUTHENTICATED. Unset: derived from JWT_SECRET (the monolith, and development).",
    }),
    busIdentityTtlMs: option(int(1000, 600_000), {
      env: "BUS_IDENTITY_TTL_MS",
      flag: "--bus-identity-ttl-ms",
      default: "30000",
      allowed: "1000-600000 (ms)",
      describe:
        "Lifetime of a signed caller identity on the bus; modules refuse older ones (UNAUTHENTICATED). Covers transit and clock skew between processes.",
    }),
  },
  (c) => {
    if (c.bus.kind === "memory" && c.registry.kind === "etcd") {
      throw new ConfigError("REGISTRY: etcd needs BUS=nats://... (modules in other processes are reached over the bus)");
    }
  },
);

/** The kernel's options, typed (`z.infer` of {@link kernelOptions}). */
export type KernelOptions = OptionsOf<typeof kernelOptions>;

/** Kept as a name for callers of the NATS settings. */
export type NatsAuthConfig = KernelOptions["nats"];
