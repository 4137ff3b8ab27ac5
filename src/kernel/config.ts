import { z } from "zod";
import { existsSync } from "node:fs";
import { LOG_LEVELS, type LogLevel } from "./logger.ts";

/**
 * Configuration from environment variables and CLI flags (flags win). Every option is
 * declared once in {@link OPTIONS}; `--help` prints that table, and a bad value produces
 * one line naming the variable and what is allowed ({@link ConfigError}).
 */
export interface Config {
  /** Parts this process runs, e.g. `["account", "catalog", "order", "gateway"]`. */
  modules: string[];
  /** HTTP port of the gateway (0 = pick a free port). */
  port: number;
  /** Interface the HTTP server binds to. */
  host: string;
  /** Directory for embedded data (SQLite files, generated secrets). */
  dataDir: string;
  /** HS256 secret; undefined means "generate one and keep it in DATA_DIR" (NODE_ENV=development only; see secrets.ts). */
  jwtSecret: string | undefined;
  /** Access-token lifetime in seconds. */
  jwtTtlS: number;
  logLevel: LogLevel;
  /** Seed the demo catalog on first start (empty database). */
  seed: boolean;
  /** Timeout of bus requests from the gateway to subgraphs, in ms. */
  subgraphTimeoutMs: number;
  /** Max time to finish in-flight work on SIGINT/SIGTERM, in ms. */
  drainTimeoutMs: number;
  /** Heartbeat interval of subscription streams between gateway and subgraphs, in ms (a peer silent for 3 intervals is dead). */
  subscriptionHeartbeatMs: number;
  /** Bus transport: in-process, or NATS servers (`nats://host:port`). */
  bus: BusConfig;
  /** NATS auth/TLS (only with `bus.kind === "nats"`). */
  nats: NatsAuthConfig;
  /** Service registry: in-process, or etcd endpoints (`http://host:port`). */
  registry: RegistryConfig;
  /** Registry lease TTL in seconds (etcd): how fast a dead instance disappears. */
  registryTtlS: number;
  /** `DATABASE_URL`: shared database for every module; undefined = SQLite files in DATA_DIR. */
  databaseUrl: string | undefined;
  /** `<MODULE>_DATABASE_URL` overrides, by module name. */
  moduleDatabaseUrls: Record<string, string>;
  /** Max connections per module pool (PostgreSQL). */
  dbPoolMax: number;
  /** Subgraphs the gateway needs before it reports ready; undefined = default (see main). */
  gatewaySubgraphs: string[] | undefined;
  /** `BUS_TIMEOUTS`: per-subject request timeouts (first matching pattern wins), ms. */
  busTimeouts: { pattern: string; timeoutMs: number }[];
  /** Consecutive transport failures that open a circuit breaker (per subgraph / subject). */
  breakerFailures: number;
  /** How long an open breaker rejects calls before one trial call (half-open), ms. */
  breakerResetMs: number;
  /** `OTEL_EXPORTER_OTLP_ENDPOINT`: OTLP/HTTP collector base URL; undefined = spans not exported. */
  otlpEndpoint: string | undefined;
  /**
   * `SUPERGRAPH_FILE` / `--supergraph`: serve this supergraph SDL file instead of composing from
   * the registry; each subgraph is reached at its `join__graph(url:)` (http(s) or bus://graphql.<name>).
   */
  supergraphFile: string | undefined;
  /** `ADMIN_EMAIL`: account made admin at account-module start (with `adminPassword`); undefined = none. */
  adminEmail: string | undefined;
  /** `ADMIN_PASSWORD`: that account's password when it is created (>= 8 characters). */
  adminPassword: string | undefined;
  /** Simulated payment provider: latency of each call, ms. */
  paymentProviderLatencyMs: number;
  /** How long the payment module waits for the provider before giving up (`PAYMENT_PROVIDER_TIMEOUT`), ms. */
  paymentProviderTimeoutMs: number;
  /** PENDING orders not paid within this many seconds are cancelled and their stock released. */
  orderPaymentTimeoutS: number;
  /** Poll interval of the transactional-outbox relay (it is also woken on every commit), ms. */
  outboxPollMs: number;
  /** Test-only fault injection point (e.g. `outbox.after_commit[:<subject>]`); undefined = none. */
  faultInject: string | undefined;
  /**
   * `NODE_ENV`: `production` (default) unless the operator asks for `development` (which `npm start`
   * sets): only `development` turns the development aids on (see {@link isDevelopment}).
   */
  nodeEnv: string;
  /** Response cache of public reads at the gateway (`RESPONSE_CACHE`). */
  responseCache: boolean;
  /** Max cached responses per gateway (LRU), entries. */
  responseCacheMax: number;
  /** TTL of a response none of whose types has a TTL of its own, ms; 0 = such responses are not cached. */
  responseCacheTtlMs: number;
  /** TTL per type or schema coordinate (`Product`, `Query.products`), ms; 0 = never cached. */
  responseCacheTtls: Record<string, number>;
  /** `PERSISTED_OPERATIONS`: `off`, `apq` (Automatic Persisted Queries) or `only` (allow-list from a manifest). */
  persistedOperations: "off" | "apq" | "only";
  /** Manifest of the allow-list (`only` mode): `{ "<sha256>": "<query>" }` or Apollo's persisted query manifest. */
  persistedOperationsFile: string | undefined;
  /** Max APQ-registered operations kept per gateway (LRU), entries. */
  apqMax: number;
  /** Max parsed documents (and parse errors) the gateway caches (LRU), entries each. */
  operationCacheMax: number;
  /** Whether a client may ask for per-subgraph timings (`x-switchyard-trace: 1`). */
  subgraphTimings: boolean;
  /** `QUERY_PLANNER`: runtime of gateway queries and mutations, `rust` (Hive's Rust planner, default) or `js` (stitching); subscriptions always `js`. */
  queryPlanner: "js" | "rust";
  /** Protection (gateway): GraphiQL served on `GET /graphql` to browsers (`GRAPHIQL`; default: not in production). */
  graphiql: boolean;
  /** Introspection (`__schema`, `__type`) allowed (`INTROSPECTION`; default: not in production). */
  introspection: boolean;
  /** Max selection depth of an operation; 0 = no limit. */
  maxDepth: number;
  /** Max aliases in an operation; 0 = no limit. */
  maxAliases: number;
  /** Max lexical tokens in a document; 0 = no limit. */
  maxTokens: number;
  /** Max directives in an operation; 0 = no limit. */
  maxDirectives: number;
  /** Max static cost of an operation (graphql-armor cost model); 0 = no limit. */
  maxCost: number;
  /** Max request body, bytes (larger requests get 413 `PAYLOAD_TOO_LARGE`). */
  maxBodyBytes: number;
  /** `CORS_ORIGINS`: origins allowed cross-origin (`["*"]` = any); empty = no CORS headers at all. */
  corsOrigins: string[];
  /** `TRUST_PROXY`: take the client IP from `Fly-Client-IP` / `X-Forwarded-For` (only behind a proxy that sets them). */
  trustProxy: boolean;
  /** Requests per account (valid token) per window, besides the IP budget; 0 = off. */
  rateLimitMax: number;
  /** Rate-limit window, seconds. */
  rateLimitWindowS: number;
  /** Port of the operations listener (`/metrics`, `/admin/*`); 0 = pick a free port. */
  opsPort: number;
  /** Interface the operations listener binds to (loopback by default: not public). */
  opsHost: string;
  /** Order module: most units of one product in one order line (`ORDER_MAX_LINE_QUANTITY`). */
  orderMaxLineQuantity: number;
  /** Order module: most lines (distinct products) in one order (`ORDER_MAX_LINES`). */
  orderMaxLines: number;
  /** Order module: most unpaid (PENDING, or being placed) orders one account may hold (`ORDER_MAX_PENDING`). */
  orderMaxPending: number;
  /** Order module: largest order total, integer minor units (`ORDER_MAX_TOTAL_CENTS`; at most 2^31 - 1, so `Money.cents` can show it). */
  orderMaxTotalCents: number;
  /**
   * `ORDER_INTENT_GRACE_S`: a reservation whose order was not written within this many seconds
   * is released by the order module's sweeper (and the order can then no longer be written).
   * Keep it above the `catalog.stock.reserve` timeout plus the order write.
   */
  orderIntentGraceS: number;
  /** Requests per client IP per window, whether or not they carry a token (a token never lifts it); 0 = off. Default 3 × `rateLimitMax`. */
  rateLimitIpMax: number;
  /** Registration/login operations (the Mutation fields of `rateLimitAuthFields`, each occurrence counted) per client IP per window; 0 = off. */
  rateLimitAuthMax: number;
  /** Mutation fields counted against `rateLimitAuthMax`, e.g. `["register", "login", "refreshToken"]`. */
  rateLimitAuthFields: string[];
  /** Concurrent subscriptions per WebSocket connection; 0 = no limit. */
  maxSubscriptionsPerConnection: number;
  /** Concurrent subscriptions per account (WebSocket and SSE, counted per gateway); 0 = no limit. */
  maxSubscriptionsPerAccount: number;
  /** Concurrent subscriptions per client IP (with or without a token; WebSocket and SSE, per gateway); 0 = no limit. */
  maxSubscriptionsPerIp: number;
  /** Refresh-token lifetime, seconds (`REFRESH_TOKEN_TTL_S`); each rotation issues a new one with a full lifetime. */
  refreshTokenTtlS: number;
  /**
   * How long a gateway reuses an answer of the account module's session check (account exists,
   * enabled, session not revoked), ms: the bound on refusing a disabled account or logged-out
   * session for a gateway that missed the event. 0 = ask on every request.
   */
  sessionCheckTtlMs: number;
  /** Session-check answers a gateway keeps (LRU), entries. */
  sessionCheckMax: number;
  /**
   * `BUS_SIGNING_KEY`: HMAC key (>= 32 characters) the gateway signs forwarded caller identities
   * with and modules verify them with; undefined = derived from the JWT secret (memory bus, or
   * NODE_ENV=development; required with a NATS bus otherwise).
   */
  busSigningKey: string | undefined;
  /** `BUS_IDENTITY_TTL_MS`: lifetime of a signed identity header, ms (refused once older). */
  busIdentityTtlMs: number;
  /** Max nesting of arrays/objects in a request's `variables` and `extensions` (0 = no limit); JSON_TOO_DEEP. */
  maxJsonDepth: number;
}

export type BusConfig = { kind: "memory" } | { kind: "nats"; servers: string[] };
export type RegistryConfig = { kind: "memory" } | { kind: "etcd"; hosts: string[] };
export interface NatsAuthConfig {
  token?: string;
  user?: string;
  pass?: string;
  /** Path of a `.creds` file (JWT + nkey seed). */
  credsFile?: string;
  tlsCaFile?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
}

/**
 * True only when the operator asked for development (`NODE_ENV=development`): every other value,
 * unset included, runs as production (masked errors, no GraphiQL/introspection/timings by default).
 */
export const isDevelopment = (config: Pick<Config, "nodeEnv">): boolean => config.nodeEnv === "development";

/** Thrown for an invalid option; `message` is the single line shown to the user. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

interface OptionSpec<K extends keyof Config> {
  key: K;
  env: string;
  flag: string;
  /** Default as the user would type it; undefined = no default. */
  default: string | undefined;
  /** What is allowed, for --help and error lines. */
  allowed: string;
  describe: string;
  /** `acc` holds the options parsed so far (options sharing a key merge through it). */
  parse: (raw: string, ctx: ParseContext, acc: Partial<Config>) => Config[K];
}

interface ParseContext {
  /** Known part names (modules + "gateway"). */
  parts: readonly string[];
}

const intIn = (min: number, max: number) => (raw: string) => {
  const r = z.coerce
    .number()
    .int()
    .min(min)
    .max(max)
    .safeParse(raw.trim() === "" ? NaN : raw);
  if (!r.success) throw new ConfigError(`an integer from ${min} to ${max}`);
  return r.data;
};
const bool = (raw: string): boolean => {
  const v = raw.toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off"].includes(v)) return false;
  throw new ConfigError("true or false");
};

function parseModules(raw: string, ctx: ParseContext): string[] {
  const list = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0) throw new ConfigError(`"all" or a comma list of ${ctx.parts.join(", ")}`);
  if (list.length === 1 && list[0] === "all") return [...ctx.parts];
  for (const name of list) {
    if (!ctx.parts.includes(name)) {
      throw new ConfigError(`"all" or a comma list of ${ctx.parts.join(", ")}; unknown "${name}"`);
    }
  }
  return [...new Set(list)];
}

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

/** Validates `sqlite:<path>` or `postgres://user@host[:port]/db` (also `postgresql://`). */
export function parseDatabaseUrl(raw: string): string {
  if (raw.startsWith("sqlite:") && raw.length > "sqlite:".length) return raw;
  if (/^postgres(ql)?:\/\/[^/\s]+\/[^\s]+$/.test(raw)) return raw;
  throw new ConfigError("sqlite:<path> | postgres://user:pass@host:port/database");
}

/** Loose e-mail check (one @, no spaces, a dot in the domain), as the account module's registration. */
function parseAdminEmail(raw: string): string | undefined {
  if (raw === "") return undefined;
  const email = raw.trim().toLowerCase();
  if (email.length > 254 || !/^[^\s@]+@[^\s@.]+(?:\.[^\s@.]+)+$/.test(email)) throw new ConfigError("an e-mail address");
  return email;
}

/** Parses `BUS_TIMEOUTS`: `pattern=ms` pairs; patterns use NATS wildcards (`*`, `>`). */
export function parseBusTimeouts(raw: string): { pattern: string; timeoutMs: number }[] {
  if (raw.trim() === "") return [];
  return raw.split(",").map((pair) => {
    const m = /^\s*([^\s=]+)\s*=\s*(\d+)\s*$/.exec(pair);
    const ms = m ? Number(m[2]) : NaN;
    if (!m || !Number.isInteger(ms) || ms < 1 || ms > 600_000 || !/^[^.\s]+(\.[^.\s]+)*$/.test(m[1] as string)) {
      throw new ConfigError("comma list of <subject pattern>=<ms> (1-600000), e.g. catalog.stock.*=2000,graphql.*=10000");
    }
    return { pattern: m[1] as string, timeoutMs: ms };
  });
}

/** Parses `RESPONSE_CACHE_TTLS`: `Type=ms` or `Type.field=ms` pairs. */
export function parseTtls(raw: string): Record<string, number> {
  const out: Record<string, number> = {};
  if (raw.trim() === "") return out;
  for (const pair of raw.split(",")) {
    const m = /^\s*([_A-Za-z]\w*(?:\.[_A-Za-z]\w*)?)\s*=\s*(\d+)\s*$/.exec(pair);
    const ms = m ? Number(m[2]) : NaN;
    if (!m || ms > 86_400_000) throw new ConfigError("comma list of <Type or Type.field>=<ms> (0-86400000), e.g. Product=60000,Order=0");
    out[m[1] as string] = ms;
  }
  return out;
}

/** Parses `CORS_ORIGINS`: empty, `*`, or a comma list of origins (`scheme://host[:port]`, no path). */
export function parseCorsOrigins(raw: string): string[] {
  if (raw.trim() === "") return [];
  if (raw.trim() === "*") return ["*"];
  return raw
    .split(",")
    .map((s) => s.trim())
    .map((o) => {
      if (!/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/.test(o))
        throw new ConfigError("empty, * or a comma list of origins like https://shop.example.com");
      return o;
    });
}

const natsField =
  (field: keyof NatsAuthConfig) =>
  (raw: string, _ctx: ParseContext, acc: Partial<Config>): NatsAuthConfig => ({ ...acc.nats, ...(raw ? { [field]: raw } : {}) });

/** Every option, in `--help` order. */
export const OPTIONS = [
  {
    key: "modules",
    env: "MODULES",
    flag: "--modules",
    default: "all",
    allowed: "all | comma list of part names",
    describe: "Which parts this process runs (modules and/or gateway).",
    parse: parseModules,
  },
  {
    key: "port",
    env: "PORT",
    flag: "--port",
    default: "4000",
    allowed: "0-65535",
    describe: "HTTP port of the gateway.",
    parse: intIn(0, 65535),
  },
  {
    key: "host",
    env: "HOST",
    flag: "--host",
    default: "127.0.0.1",
    allowed: "IP address or host name",
    describe: "Interface the gateway binds to (0.0.0.0 inside containers).",
    parse: (raw) => {
      if (!/^[\w.:-]+$/.test(raw)) throw new ConfigError("an IP address or host name");
      return raw;
    },
  },
  {
    key: "dataDir",
    env: "DATA_DIR",
    flag: "--data-dir",
    default: "./data",
    allowed: "directory path",
    describe: "Where embedded SQLite databases and generated secrets live.",
    parse: (raw) => {
      if (!raw.trim()) throw new ConfigError("a non-empty directory path");
      return raw;
    },
  },
  {
    key: "jwtSecret",
    env: "JWT_SECRET",
    flag: "--jwt-secret",
    default: undefined,
    allowed: "at least 32 characters",
    describe: "HS256 signing secret. Unset: generated once into DATA_DIR/jwt-secret (development only).",
    parse: (raw) => {
      if (raw.length < 32) throw new ConfigError("at least 32 characters");
      return raw;
    },
  },
  {
    key: "jwtTtlS",
    env: "JWT_TTL_S",
    flag: "--jwt-ttl-s",
    default: "900",
    allowed: "60-31536000 (seconds)",
    describe: "Lifetime of issued access tokens, in seconds (short: refresh tokens renew them).",
    parse: intIn(60, 31_536_000),
  },
  {
    key: "logLevel",
    env: "LOG_LEVEL",
    flag: "--log-level",
    default: "info",
    allowed: LOG_LEVELS.join(" | "),
    describe: "Minimum log level.",
    parse: (raw) => {
      if (!(LOG_LEVELS as readonly string[]).includes(raw)) throw new ConfigError(LOG_LEVELS.join(" | "));
      return raw as LogLevel;
    },
  },
  {
    key: "seed",
    env: "SEED",
    flag: "--seed",
    default: "true",
    allowed: "true | false",
    describe: "Seed the demo catalog when the catalog database is empty.",
    parse: bool,
  },
  {
    key: "subgraphTimeoutMs",
    env: "SUBGRAPH_TIMEOUT_MS",
    flag: "--subgraph-timeout-ms",
    default: "10000",
    allowed: "100-120000 (ms)",
    describe: "Timeout of one gateway-to-subgraph request over the bus.",
    parse: intIn(100, 120_000),
  },
  {
    key: "drainTimeoutMs",
    env: "DRAIN_TIMEOUT_MS",
    flag: "--drain-timeout-ms",
    default: "10000",
    allowed: "0-600000 (ms)",
    describe: "How long shutdown waits for in-flight requests.",
    parse: intIn(0, 600_000),
  },
  {
    key: "subscriptionHeartbeatMs",
    env: "SUBSCRIPTION_HEARTBEAT_MS",
    flag: "--subscription-heartbeat-ms",
    default: "5000",
    allowed: "100-60000 (ms)",
    describe:
      "Heartbeat of subscription streams between gateway and subgraphs; a side silent for 3 intervals ends the subscription with SUBGRAPH_UNAVAILABLE.",
    parse: intIn(100, 60_000),
  },
  {
    key: "bus",
    env: "BUS",
    flag: "--bus",
    default: "memory",
    allowed: "memory | nats://host:port[,nats://host:port...]",
    describe: "Bus transport: in-process, or NATS (JetStream for durable events).",
    parse: parseBus,
  },
  {
    key: "nats",
    env: "NATS_TOKEN",
    flag: "--nats-token",
    default: "",
    allowed: "token string",
    describe: "NATS token auth.",
    parse: natsField("token"),
  },
  {
    key: "nats",
    env: "NATS_USER",
    flag: "--nats-user",
    default: "",
    allowed: "user name",
    describe: "NATS user (with NATS_PASS).",
    parse: natsField("user"),
  },
  {
    key: "nats",
    env: "NATS_PASS",
    flag: "--nats-pass",
    default: "",
    allowed: "password",
    describe: "NATS password.",
    parse: natsField("pass"),
  },
  {
    key: "nats",
    env: "NATS_CREDS",
    flag: "--nats-creds",
    default: "",
    allowed: "path of a .creds file",
    describe: "NATS decentralised auth (JWT + nkey) credentials file.",
    parse: natsField("credsFile"),
  },
  {
    key: "nats",
    env: "NATS_TLS_CA",
    flag: "--nats-tls-ca",
    default: "",
    allowed: "PEM file path",
    describe: "CA certificate to verify NATS servers (enables TLS).",
    parse: natsField("tlsCaFile"),
  },
  {
    key: "nats",
    env: "NATS_TLS_CERT",
    flag: "--nats-tls-cert",
    default: "",
    allowed: "PEM file path",
    describe: "Client certificate for NATS mutual TLS.",
    parse: natsField("tlsCertFile"),
  },
  {
    key: "nats",
    env: "NATS_TLS_KEY",
    flag: "--nats-tls-key",
    default: "",
    allowed: "PEM file path",
    describe: "Client key for NATS mutual TLS.",
    parse: natsField("tlsKeyFile"),
  },
  {
    key: "registry",
    env: "REGISTRY",
    flag: "--registry",
    default: "memory",
    allowed: "memory | etcd://host:port[,etcd://host:port...]",
    describe: "Service registry: in-process, or etcd (leases, watch, supergraph store).",
    parse: parseRegistry,
  },
  {
    key: "registryTtlS",
    env: "REGISTRY_TTL_S",
    flag: "--registry-ttl-s",
    default: "10",
    allowed: "1-300 (seconds)",
    describe: "etcd lease TTL: a dead instance disappears within this time.",
    parse: intIn(1, 300),
  },
  {
    key: "databaseUrl",
    env: "DATABASE_URL",
    flag: "--database-url",
    default: "",
    allowed: "sqlite:<path> | postgres://user:pass@host:port/db",
    describe:
      "Database of every module (unset: SQLite files in DATA_DIR). A shared postgres URL gives each module its own schema; sqlite:<dir> one file per module in <dir>.",
    parse: (raw) => (raw === "" ? undefined : parseDatabaseUrl(raw)),
  },
  {
    key: "dbPoolMax",
    env: "DB_POOL_MAX",
    flag: "--db-pool-max",
    default: "10",
    allowed: "1-200",
    describe: "Max PostgreSQL connections per module.",
    parse: intIn(1, 200),
  },
  {
    key: "gatewaySubgraphs",
    env: "GATEWAY_SUBGRAPHS",
    flag: "--gateway-subgraphs",
    default: "",
    allowed: "comma list of module names",
    describe:
      "Subgraphs the gateway waits for before it is ready (default: the modules of this process with REGISTRY=memory, every module with etcd).",
    parse: (raw, ctx) => (raw === "" ? undefined : parseModules(raw, { parts: ctx.parts.filter((p) => p !== "gateway") })),
  },
  {
    key: "busTimeouts",
    env: "BUS_TIMEOUTS",
    flag: "--bus-timeouts",
    default: "",
    allowed: "comma list of <subject pattern>=<ms>, e.g. catalog.stock.*=2000,graphql.*=10000",
    describe: "Per-subject bus request timeouts (NATS wildcards; the first matching pattern wins over the caller's timeout).",
    parse: parseBusTimeouts,
  },
  {
    key: "breakerFailures",
    env: "BREAKER_FAILURES",
    flag: "--breaker-failures",
    default: "5",
    allowed: "1-1000",
    describe: "Consecutive timeouts / no-responders that open the circuit breaker of a subgraph or subject.",
    parse: intIn(1, 1000),
  },
  {
    key: "breakerResetMs",
    env: "BREAKER_RESET_MS",
    flag: "--breaker-reset-ms",
    default: "5000",
    allowed: "100-600000 (ms)",
    describe: "How long an open circuit breaker fails fast before letting one trial request through (half-open).",
    parse: intIn(100, 600_000),
  },
  {
    key: "otlpEndpoint",
    env: "OTEL_EXPORTER_OTLP_ENDPOINT",
    flag: "--otlp-endpoint",
    default: "",
    allowed: "http(s)://host:port[/path]",
    describe: "OpenTelemetry collector (OTLP/HTTP, JSON); traces go to <endpoint>/v1/traces. Unset: tracing is not exported.",
    parse: (raw) => {
      if (raw === "") return undefined;
      if (!/^https?:\/\/[^\s/]+(\/\S*)?$/.test(raw)) throw new ConfigError("http(s)://host:port[/path]");
      return raw;
    },
  },
  {
    key: "supergraphFile",
    env: "SUPERGRAPH_FILE",
    flag: "--supergraph",
    default: "",
    allowed: "path of a supergraph SDL file",
    describe:
      "Gateway serves this supergraph instead of composing from the registry; subgraphs are reached at their join__graph URLs (http(s)://... over HTTP, bus://graphql.<name> over the bus).",
    parse: (raw) => {
      if (raw === "") return undefined;
      if (!existsSync(raw)) throw new ConfigError("path of an existing supergraph SDL file");
      return raw;
    },
  },
  {
    key: "adminEmail",
    env: "ADMIN_EMAIL",
    flag: "--admin-email",
    default: "",
    allowed: "an e-mail address (with ADMIN_PASSWORD)",
    describe:
      "First admin: the account module creates this account at start if missing (password ADMIN_PASSWORD) and grants it the admin role.",
    parse: parseAdminEmail,
  },
  {
    key: "adminPassword",
    env: "ADMIN_PASSWORD",
    flag: "--admin-password",
    default: "",
    allowed: "at least 8 characters (with ADMIN_EMAIL)",
    describe: "Password of the ADMIN_EMAIL account when it is created; an existing account must already have it.",
    parse: (raw) => {
      if (raw === "") return undefined;
      if ([...raw].length < 8) throw new ConfigError("at least 8 characters");
      return raw;
    },
  },
  {
    key: "paymentProviderLatencyMs",
    env: "PAYMENT_PROVIDER_LATENCY_MS",
    flag: "--payment-provider-latency-ms",
    default: "50",
    allowed: "0-60000 (ms)",
    describe: "Latency of each call to the simulated payment provider.",
    parse: intIn(0, 60_000),
  },
  {
    key: "paymentProviderTimeoutMs",
    env: "PAYMENT_PROVIDER_TIMEOUT_MS",
    flag: "--payment-provider-timeout-ms",
    default: "5000",
    allowed: "10-120000 (ms)",
    describe:
      "How long the payment module waits for the provider (tok_timeout never answers): the payment then fails with PAYMENT_PROVIDER_TIMEOUT.",
    parse: intIn(10, 120_000),
  },
  {
    key: "orderPaymentTimeoutS",
    env: "ORDER_PAYMENT_TIMEOUT_S",
    flag: "--order-payment-timeout-s",
    default: "600",
    allowed: "1-604800 (seconds)",
    describe: "Payment window: PENDING orders not paid within this time are cancelled and their stock released (periodic sweeper).",
    parse: intIn(1, 604_800),
  },
  {
    key: "outboxPollMs",
    env: "OUTBOX_POLL_MS",
    flag: "--outbox-poll-ms",
    default: "1000",
    allowed: "10-60000 (ms)",
    describe: "Poll interval of the transactional-outbox relay (it also wakes on every commit).",
    parse: intIn(10, 60_000),
  },
  {
    key: "faultInject",
    env: "FAULT_INJECT",
    flag: "--fault-inject",
    default: "",
    allowed: "outbox.after_commit[:<subject>]",
    describe: "TEST ONLY: outbox.after_commit kills the process (SIGKILL) right after an outbox commit, before the publish.",
    parse: (raw) => {
      if (raw === "") return undefined;
      if (!/^outbox\.after_commit(:[\w.]+)?$/.test(raw)) throw new ConfigError("outbox.after_commit[:<subject>]");
      return raw;
    },
  },
  {
    key: "nodeEnv",
    env: "NODE_ENV",
    flag: "--node-env",
    default: "production",
    allowed: "production | development | test | ...",
    describe:
      "Environment; anything but development is run as production: GraphiQL, introspection, subgraph timings, original messages of internal errors and the generated JWT secret are development aids, on only with development (npm start sets it); response-cache metadata too.",
    parse: (raw) => {
      if (!/^[\w-]{1,32}$/.test(raw)) throw new ConfigError("a word such as production or development");
      return raw;
    },
  },
  {
    key: "responseCache",
    env: "RESPONSE_CACHE",
    flag: "--response-cache",
    default: "true",
    allowed: "true | false",
    describe: "Cache public read responses at the gateway (per caller, invalidated by catalog events).",
    parse: bool,
  },
  {
    key: "responseCacheMax",
    env: "RESPONSE_CACHE_MAX",
    flag: "--response-cache-max",
    default: "1000",
    allowed: "1-1000000 (entries)",
    describe: "Max cached responses per gateway (least recently used are evicted).",
    parse: intIn(1, 1_000_000),
  },
  {
    key: "responseCacheTtlMs",
    env: "RESPONSE_CACHE_TTL_MS",
    flag: "--response-cache-ttl-ms",
    default: "0",
    allowed: "0-86400000 (ms)",
    describe: "TTL of a response none of whose types has its own TTL in RESPONSE_CACHE_TTLS; 0: such responses are not cached.",
    parse: intIn(0, 86_400_000),
  },
  {
    key: "responseCacheTtls",
    env: "RESPONSE_CACHE_TTLS",
    flag: "--response-cache-ttls",
    default: "Product=60000,Category=300000,Account=0,Order=0",
    allowed: "comma list of <Type or Type.field>=<ms>",
    describe: "TTL per type or schema coordinate; a response gets the smallest TTL of the types it contains; 0 = never cached.",
    parse: parseTtls,
  },
  {
    key: "persistedOperations",
    env: "PERSISTED_OPERATIONS",
    flag: "--persisted-operations",
    default: "apq",
    allowed: "off | apq | only",
    describe: "apq: Automatic Persisted Queries; only: execute only the operations of PERSISTED_OPERATIONS_FILE.",
    parse: (raw) => {
      if (raw !== "off" && raw !== "apq" && raw !== "only") throw new ConfigError("off | apq | only");
      return raw;
    },
  },
  {
    key: "persistedOperationsFile",
    env: "PERSISTED_OPERATIONS_FILE",
    flag: "--persisted-operations-file",
    default: "",
    allowed: "path of a JSON manifest (required with PERSISTED_OPERATIONS=only)",
    describe: 'Allow-list: { "<sha256>": "<query>" } or an Apollo persisted query manifest.',
    parse: (raw, _ctx, acc) => {
      if (raw === "") {
        if (acc.persistedOperations === "only") throw new ConfigError("a manifest path (PERSISTED_OPERATIONS=only needs one)");
        return undefined;
      }
      if (!existsSync(raw)) throw new ConfigError("path of an existing JSON manifest");
      return raw;
    },
  },
  {
    key: "apqMax",
    env: "APQ_MAX",
    flag: "--apq-max",
    default: "1000",
    allowed: "1-1000000 (entries)",
    describe: "Max operations registered by Automatic Persisted Queries per gateway (LRU).",
    parse: intIn(1, 1_000_000),
  },
  {
    key: "operationCacheMax",
    env: "OPERATION_CACHE_MAX",
    flag: "--operation-cache-max",
    default: "1000",
    allowed: "1-1000000 (entries)",
    describe: "Max parsed operations (and parse errors) cached by the gateway (LRU); bounds validation and query-plan caches too.",
    parse: intIn(1, 1_000_000),
  },
  {
    key: "subgraphTimings",
    env: "SUBGRAPH_TIMINGS",
    flag: "--subgraph-timings",
    default: "",
    allowed: "true | false (unset: true only with NODE_ENV=development)",
    describe: "Let clients ask for per-subgraph timings (header x-switchyard-trace: 1; subgraphs answer Apollo ftv1 traces).",
    parse: (raw, _ctx, acc) => (raw === "" ? acc.nodeEnv === "development" : bool(raw)),
  },
  {
    key: "queryPlanner",
    env: "QUERY_PLANNER",
    flag: "--query-planner",
    default: "rust",
    allowed: "rust | js",
    describe:
      "Gateway runtime of queries and mutations: rust (The Guild's Rust query planner, @graphql-hive/router-runtime) or js (@graphql-tools stitching); subscriptions always run on js.",
    parse: (raw) => {
      if (raw !== "js" && raw !== "rust") throw new ConfigError("rust | js");
      return raw;
    },
  },
  {
    key: "graphiql",
    env: "GRAPHIQL",
    flag: "--graphiql",
    default: "",
    allowed: "true | false (unset: true only with NODE_ENV=development)",
    describe: "Serve GraphiQL on GET /graphql to browsers.",
    parse: (raw, _ctx, acc) => (raw === "" ? acc.nodeEnv === "development" : bool(raw)),
  },
  {
    key: "introspection",
    env: "INTROSPECTION",
    flag: "--introspection",
    default: "",
    allowed: "true | false (unset: true only with NODE_ENV=development)",
    describe: 'Allow introspection queries; when off, field suggestions ("Did you mean") are hidden too.',
    parse: (raw, _ctx, acc) => (raw === "" ? acc.nodeEnv === "development" : bool(raw)),
  },
  {
    key: "maxDepth",
    env: "MAX_DEPTH",
    flag: "--max-depth",
    default: "12",
    allowed: "0-1000 (0 = no limit)",
    describe: "Max selection depth of an operation (QUERY_TOO_DEEP).",
    parse: intIn(0, 1000),
  },
  {
    key: "maxAliases",
    env: "MAX_ALIASES",
    flag: "--max-aliases",
    default: "30",
    allowed: "0-100000 (0 = no limit)",
    describe: "Max aliases in an operation (TOO_MANY_ALIASES).",
    parse: intIn(0, 100_000),
  },
  {
    key: "maxTokens",
    env: "MAX_TOKENS",
    flag: "--max-tokens",
    default: "2000",
    allowed: "0-1000000 (0 = no limit)",
    describe: "Max lexical tokens in a GraphQL document, checked while parsing (TOO_MANY_TOKENS).",
    parse: intIn(0, 1_000_000),
  },
  {
    key: "maxDirectives",
    env: "MAX_DIRECTIVES",
    flag: "--max-directives",
    default: "50",
    allowed: "0-100000 (0 = no limit)",
    describe: "Max directives in an operation (TOO_MANY_DIRECTIVES).",
    parse: intIn(0, 100_000),
  },
  {
    key: "maxCost",
    env: "MAX_COST",
    flag: "--max-cost",
    default: "5000",
    allowed: "0-100000000 (0 = no limit)",
    describe: "Max static cost of an operation: object 2, scalar 1, times 1.5 per depth level (QUERY_TOO_COMPLEX).",
    parse: intIn(0, 100_000_000),
  },
  {
    key: "maxBodyBytes",
    env: "MAX_BODY_BYTES",
    flag: "--max-body-bytes",
    default: "1048576",
    allowed: "1024-1073741824 (bytes)",
    describe: "Max request body on /graphql; larger requests get 413 PAYLOAD_TOO_LARGE.",
    parse: intIn(1024, 1_073_741_824),
  },
  {
    key: "corsOrigins",
    env: "CORS_ORIGINS",
    flag: "--cors-origins",
    default: "",
    allowed: "empty | * | comma list of https://host[:port]",
    describe: "Origins allowed to call /graphql from a browser (CORS); empty: no cross-origin access.",
    parse: parseCorsOrigins,
  },
  {
    key: "trustProxy",
    env: "TRUST_PROXY",
    flag: "--trust-proxy",
    default: "false",
    allowed: "true | false",
    describe: "Client IP (rate limiting) from Fly-Client-IP, else the last X-Forwarded-For entry; only behind a proxy that sets them.",
    parse: bool,
  },
  {
    key: "rateLimitMax",
    env: "RATE_LIMIT_MAX",
    flag: "--rate-limit-max",
    default: "600",
    allowed: "0-1000000 (0 = off)",
    describe:
      "Requests per account (valid token) per RATE_LIMIT_WINDOW_S, on top of the IP budget RATE_LIMIT_IP_MAX; more get 429 RATE_LIMITED. Shared by all gateways over NATS KV in split mode.",
    parse: intIn(0, 1_000_000),
  },
  {
    key: "rateLimitWindowS",
    env: "RATE_LIMIT_WINDOW_S",
    flag: "--rate-limit-window-s",
    default: "60",
    allowed: "1-86400 (seconds)",
    describe: "Rate-limit window (fixed windows aligned to the clock).",
    parse: intIn(1, 86_400),
  },
  {
    key: "opsPort",
    env: "OPS_PORT",
    flag: "--ops-port",
    default: "9091",
    allowed: "0-65535 (0 = pick a free port)",
    describe:
      "Port of the operations listener: /metrics (Prometheus) and /admin/* (admin token required); the public PORT answers 404 for them.",
    parse: intIn(0, 65535),
  },
  {
    key: "opsHost",
    env: "OPS_HOST",
    flag: "--ops-host",
    default: "127.0.0.1",
    allowed: "IP address or host name",
    describe:
      "Interface of the operations listener; keep it off the public interface (Fly: fly-local-6pn, reached by Fly's metrics scraper on the private network).",
    parse: (raw) => {
      if (!/^[\w.:-]+$/.test(raw)) throw new ConfigError("an IP address or host name");
      return raw;
    },
  },
  {
    key: "orderMaxLineQuantity",
    env: "ORDER_MAX_LINE_QUANTITY",
    flag: "--order-max-line-quantity",
    default: "10",
    allowed: "1-1000000 (units)",
    describe: "Most units of one product per order line; more: createOrder fails with LIMIT_EXCEEDED before any stock is reserved.",
    parse: intIn(1, 1_000_000),
  },
  {
    key: "orderMaxLines",
    env: "ORDER_MAX_LINES",
    flag: "--order-max-lines",
    default: "50",
    allowed: "1-100 (lines)",
    describe: "Most lines (distinct products) per order; more: LIMIT_EXCEEDED, nothing reserved.",
    parse: intIn(1, 100),
  },
  {
    key: "orderMaxPending",
    env: "ORDER_MAX_PENDING",
    flag: "--order-max-pending",
    default: "3",
    allowed: "1-1000000 (orders)",
    describe:
      "Most unpaid orders (PENDING, or being placed) per account; one more createOrder fails with LIMIT_EXCEEDED, nothing reserved. Pay or cancel one to order again.",
    parse: intIn(1, 1_000_000),
  },
  {
    key: "orderMaxTotalCents",
    env: "ORDER_MAX_TOTAL_CENTS",
    flag: "--order-max-total-cents",
    default: "100000000",
    allowed: "1-2147483647 (minor units)",
    describe:
      "Largest order total (1,000,000.00 by default); a larger order fails with LIMIT_EXCEEDED, checked by the catalog in the reservation's transaction before anything is written. At most 2^31 - 1, so every amount fits Money.cents (GraphQL Int).",
    parse: intIn(1, 2_147_483_647),
  },
  {
    key: "orderIntentGraceS",
    env: "ORDER_INTENT_GRACE_S",
    flag: "--order-intent-grace-s",
    default: "30",
    allowed: "1-86400 (seconds; above the catalog.stock.reserve timeout, 5 s unless BUS_TIMEOUTS says otherwise)",
    describe:
      "Stock reserved for an order that was not written within this time (the process died, a reply was lost) is released by the sweeper, retried until the catalog answers; such a late order write then fails with SERVICE_UNAVAILABLE.",
    parse: intIn(1, 86_400),
  },
  {
    key: "rateLimitIpMax",
    env: "RATE_LIMIT_IP_MAX",
    flag: "--rate-limit-ip-max",
    default: "",
    allowed: "0-1000000 (0 = off; unset: 3 x RATE_LIMIT_MAX)",
    describe:
      "Requests per client IP per RATE_LIMIT_WINDOW_S, with or without a token (a token never lifts it; room for a NAT shared by a few users); more get 429 RATE_LIMITED.",
    parse: (raw, _ctx, acc) => (raw === "" ? 3 * (acc.rateLimitMax ?? 0) : intIn(0, 1_000_000)(raw)),
  },
  {
    key: "rateLimitAuthMax",
    env: "RATE_LIMIT_AUTH_MAX",
    flag: "--rate-limit-auth-max",
    default: "10",
    allowed: "0-1000000 (0 = off)",
    describe:
      "Registration/login operations (RATE_LIMIT_AUTH_FIELDS, each field of a request counted) per client IP per RATE_LIMIT_WINDOW_S; more get RATE_LIMITED (HTTP 429).",
    parse: intIn(0, 1_000_000),
  },
  {
    key: "rateLimitAuthFields",
    env: "RATE_LIMIT_AUTH_FIELDS",
    flag: "--rate-limit-auth-fields",
    default: "register,login,refreshToken",
    allowed: "comma list of Mutation field names",
    describe: "Mutation fields counted against RATE_LIMIT_AUTH_MAX.",
    parse: (raw) => {
      const list = raw
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      const bad = list.find((n) => !/^[_A-Za-z]\w*$/.test(n));
      if (list.length === 0 || bad !== undefined)
        throw new ConfigError(`a comma list of GraphQL field names${bad === undefined ? "" : `; "${bad}" is not one`}`);
      return [...new Set(list)];
    },
  },
  {
    key: "maxSubscriptionsPerConnection",
    env: "MAX_SUBSCRIPTIONS_PER_CONNECTION",
    flag: "--max-subscriptions-per-connection",
    default: "20",
    allowed: "0-100000 (0 = no limit)",
    describe: "Concurrent subscriptions on one WebSocket; more are refused with SUBSCRIPTION_LIMIT (the socket stays open).",
    parse: intIn(0, 100_000),
  },
  {
    key: "maxSubscriptionsPerAccount",
    env: "MAX_SUBSCRIPTIONS_PER_ACCOUNT",
    flag: "--max-subscriptions-per-account",
    default: "50",
    allowed: "0-100000 (0 = no limit)",
    describe: "Concurrent subscriptions of one account (WebSocket and SSE), per gateway; more are refused with SUBSCRIPTION_LIMIT.",
    parse: intIn(0, 100_000),
  },
  {
    key: "maxSubscriptionsPerIp",
    env: "MAX_SUBSCRIPTIONS_PER_IP",
    flag: "--max-subscriptions-per-ip",
    default: "200",
    allowed: "0-100000 (0 = no limit)",
    describe:
      "Concurrent subscriptions from one client IP, with or without a token (WebSocket and SSE), per gateway; more are refused with SUBSCRIPTION_LIMIT.",
    parse: intIn(0, 100_000),
  },
  {
    key: "refreshTokenTtlS",
    env: "REFRESH_TOKEN_TTL_S",
    flag: "--refresh-token-ttl-s",
    default: "2592000",
    allowed: "60-31536000 (seconds)",
    describe: "Lifetime of a refresh token (single use; each rotation issues a new one).",
    parse: intIn(60, 31_536_000),
  },
  {
    key: "sessionCheckTtlMs",
    env: "SESSION_CHECK_TTL_MS",
    flag: "--session-check-ttl-ms",
    default: "5000",
    allowed: "0-300000 (ms)",
    describe:
      "How long a gateway caches the account module's answer that a token's account and session are active: the bound on refusing a disabled account or revoked session when the event was missed. 0 = check every request.",
    parse: intIn(0, 300_000),
  },
  {
    key: "sessionCheckMax",
    env: "SESSION_CHECK_MAX",
    flag: "--session-check-max",
    default: "10000",
    allowed: "1-10000000 (entries)",
    describe: "Session-check answers a gateway caches (LRU).",
    parse: intIn(1, 10_000_000),
  },
  {
    key: "busSigningKey",
    env: "BUS_SIGNING_KEY",
    flag: "--bus-signing-key",
    default: "",
    allowed: "at least 32 characters (required with BUS=nats://... unless NODE_ENV=development)",
    describe:
      "Shared key every process signs (gateway) and verifies (modules) the caller identity on the bus with (HMAC-SHA256); a forged or unsigned sy-identity is refused with UNAUTHENTICATED. Unset: derived from JWT_SECRET (the monolith, and development).",
    parse: (raw) => {
      if (raw === "") return undefined;
      if (raw.length < 32) throw new ConfigError("at least 32 characters");
      return raw;
    },
  },
  {
    key: "busIdentityTtlMs",
    env: "BUS_IDENTITY_TTL_MS",
    flag: "--bus-identity-ttl-ms",
    default: "30000",
    allowed: "1000-600000 (ms)",
    describe:
      "Lifetime of a signed caller identity on the bus; modules refuse older ones (UNAUTHENTICATED). Covers transit and clock skew between processes.",
    parse: intIn(1000, 600_000),
  },
  {
    key: "maxJsonDepth",
    env: "MAX_JSON_DEPTH",
    flag: "--max-json-depth",
    default: "64",
    allowed: "0-10000 (0 = no limit)",
    describe: "Max nesting of arrays and objects in a request's variables and extensions (JSON_TOO_DEEP, HTTP 400).",
    parse: intIn(0, 10_000),
  },
] as const satisfies readonly OptionSpec<keyof Config>[];

/** Result of parsing the command line: either a config or a request for help. */
export type ConfigResult = { help: true } | { help: false; config: Config };

/**
 * Builds the config from `argv` (flags like `--port 4000` or `--port=4000`) and `env`.
 * Throws {@link ConfigError} with a one-line message, e.g.
 * `PORT: expected 0-65535 ... got "abc"`.
 */
export function loadConfig(argv: readonly string[], env: Record<string, string | undefined>, ctx: ParseContext): ConfigResult {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--help" || arg === "-h") return { help: true };
    if (!arg.startsWith("--")) throw new ConfigError(`unexpected argument "${arg}" (see --help)`);
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg : arg.slice(0, eq);
    if (!OPTIONS.some((o) => o.flag === name)) throw new ConfigError(`unknown option ${name} (see --help)`);
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new ConfigError(`${name} needs a value (see --help)`);
    flags.set(name, value);
  }
  const out: Record<string, unknown> = {};
  for (const opt of OPTIONS as readonly OptionSpec<keyof Config>[]) {
    const fromFlag = flags.get(opt.flag);
    const fromEnv = env[opt.env];
    const raw = fromFlag ?? (fromEnv === undefined || (fromEnv === "" && opt.default !== undefined) ? opt.default : fromEnv);
    const source = fromFlag !== undefined ? opt.flag : opt.env;
    if (raw === undefined) {
      out[opt.key] = undefined;
      continue;
    }
    try {
      out[opt.key] = opt.parse(raw, ctx, out as Partial<Config>);
    } catch (err) {
      const allowed = err instanceof ConfigError ? err.message : opt.allowed;
      throw new ConfigError(`${source}: invalid value "${raw}"; allowed: ${allowed}`);
    }
  }
  // <MODULE>_DATABASE_URL for every module this binary knows.
  const moduleDatabaseUrls: Record<string, string> = {};
  for (const part of ctx.parts) {
    if (part === "gateway") continue;
    const name = moduleDbEnv(part);
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    try {
      moduleDatabaseUrls[part] = parseDatabaseUrl(raw);
    } catch (err) {
      throw new ConfigError(`${name}: invalid value "${raw}"; allowed: ${(err as Error).message}`);
    }
  }
  out["moduleDatabaseUrls"] = moduleDatabaseUrls;
  const config = out as unknown as Config;
  if ((config.adminEmail === undefined) !== (config.adminPassword === undefined)) {
    throw new ConfigError("ADMIN_EMAIL and ADMIN_PASSWORD: set both (first admin account) or neither");
  }
  if (config.bus.kind === "memory" && config.registry.kind === "etcd") {
    throw new ConfigError("REGISTRY: etcd needs BUS=nats://... (modules in other processes are reached over the bus)");
  }
  return { help: false, config };
}

/** Name of the per-module database variable, e.g. `CATALOG_DATABASE_URL`. */
export const moduleDbEnv = (module: string): string => `${module.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_DATABASE_URL`;

/** The `--help` text: usage plus one line per option with env var, flag, default and allowed values. */
export function helpText(ctx: ParseContext): string {
  const rows: string[] = OPTIONS.map((o) => {
    const def = o.default === undefined || o.default === "" ? "(unset)" : o.default;
    const allowed = o.key === "modules" ? `all | ${ctx.parts.join(",")} (comma list)` : o.allowed;
    return `  ${o.flag.padEnd(22)} ${o.env.padEnd(20)} default ${def}\n      ${o.describe} Allowed: ${allowed}.`;
  });
  for (const part of ctx.parts) {
    if (part === "gateway") continue;
    rows.push(
      `  ${"".padEnd(22)} ${moduleDbEnv(part).padEnd(20)} default DATABASE_URL\n      Database of the ${part} module only. Allowed: sqlite:<file> | postgres://...`,
    );
  }
  return [
    "switchyard: federated GraphQL commerce API (modular monolith on a NATS-shaped bus)",
    "",
    "Usage: switchyard [options]     (every option can also be set by its environment variable)",
    "",
    "Options:",
    "  --help, -h             show this help",
    "  --probe [url]          exit 0 if url (default http://127.0.0.1:$PORT/health/live) answers 2xx",
    "  --migrate              apply the selected modules' database migrations (and first-start seed), then exit",
    ...rows,
    "",
  ].join("\n");
}
