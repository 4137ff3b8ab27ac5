import { z } from "zod";
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
  /** HS256 secret; undefined means "generate one and keep it in DATA_DIR" (development). */
  jwtSecret: string | undefined;
  /** Token lifetime in seconds. */
  jwtTtlS: number;
  logLevel: LogLevel;
  /** Seed the demo catalog on first start (empty database). */
  seed: boolean;
  /** Timeout of bus requests from the gateway to subgraphs, in ms. */
  subgraphTimeoutMs: number;
  /** Max time to finish in-flight work on SIGINT/SIGTERM, in ms. */
  drainTimeoutMs: number;
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
  const r = z.coerce.number().int().min(min).max(max).safeParse(raw.trim() === "" ? NaN : raw);
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
  const list = raw.split(",").map((s) => s.trim()).filter(Boolean);
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
    if (!s.startsWith("nats://") || !HOSTPORT.test(s.slice("nats://".length))) throw new ConfigError("memory | nats://host:port[,nats://host:port...]");
  }
  return { kind: "nats", servers };
}

function parseRegistry(raw: string): RegistryConfig {
  if (raw === "memory") return { kind: "memory" };
  const hosts = raw.split(",").map((s) => s.trim()).map((s) => {
    if (!s.startsWith("etcd://") || !HOSTPORT.test(s.slice("etcd://".length))) throw new ConfigError("memory | etcd://host:port[,etcd://host:port...]");
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

const natsField = (field: keyof NatsAuthConfig) => (raw: string, _ctx: ParseContext, acc: Partial<Config>): NatsAuthConfig => ({ ...acc.nats, ...(raw ? { [field]: raw } : {}) });

/** Every option, in `--help` order. */
export const OPTIONS = [
  { key: "modules", env: "MODULES", flag: "--modules", default: "all", allowed: "all | comma list of part names", describe: "Which parts this process runs (modules and/or gateway).", parse: parseModules },
  { key: "port", env: "PORT", flag: "--port", default: "4000", allowed: "0-65535", describe: "HTTP port of the gateway.", parse: intIn(0, 65535) },
  { key: "host", env: "HOST", flag: "--host", default: "127.0.0.1", allowed: "IP address or host name", describe: "Interface the gateway binds to (0.0.0.0 inside containers).", parse: (raw) => { if (!/^[\w.:-]+$/.test(raw)) throw new ConfigError("an IP address or host name"); return raw; } },
  { key: "dataDir", env: "DATA_DIR", flag: "--data-dir", default: "./data", allowed: "directory path", describe: "Where embedded SQLite databases and generated secrets live.", parse: (raw) => { if (!raw.trim()) throw new ConfigError("a non-empty directory path"); return raw; } },
  { key: "jwtSecret", env: "JWT_SECRET", flag: "--jwt-secret", default: undefined, allowed: "at least 32 characters", describe: "HS256 signing secret. Unset: generated once into DATA_DIR/jwt-secret (development only).", parse: (raw) => { if (raw.length < 32) throw new ConfigError("at least 32 characters"); return raw; } },
  { key: "jwtTtlS", env: "JWT_TTL_S", flag: "--jwt-ttl-s", default: "86400", allowed: "60-31536000 (seconds)", describe: "Lifetime of issued tokens, in seconds.", parse: intIn(60, 31_536_000) },
  { key: "logLevel", env: "LOG_LEVEL", flag: "--log-level", default: "info", allowed: LOG_LEVELS.join(" | "), describe: "Minimum log level.", parse: (raw) => { if (!(LOG_LEVELS as readonly string[]).includes(raw)) throw new ConfigError(LOG_LEVELS.join(" | ")); return raw as LogLevel; } },
  { key: "seed", env: "SEED", flag: "--seed", default: "true", allowed: "true | false", describe: "Seed the demo catalog when the catalog database is empty.", parse: bool },
  { key: "subgraphTimeoutMs", env: "SUBGRAPH_TIMEOUT_MS", flag: "--subgraph-timeout-ms", default: "10000", allowed: "100-120000 (ms)", describe: "Timeout of one gateway-to-subgraph request over the bus.", parse: intIn(100, 120_000) },
  { key: "drainTimeoutMs", env: "DRAIN_TIMEOUT_MS", flag: "--drain-timeout-ms", default: "10000", allowed: "0-600000 (ms)", describe: "How long shutdown waits for in-flight requests.", parse: intIn(0, 600_000) },
  { key: "bus", env: "BUS", flag: "--bus", default: "memory", allowed: "memory | nats://host:port[,nats://host:port...]", describe: "Bus transport: in-process, or NATS (JetStream for durable events).", parse: parseBus },
  { key: "nats", env: "NATS_TOKEN", flag: "--nats-token", default: "", allowed: "token string", describe: "NATS token auth.", parse: natsField("token") },
  { key: "nats", env: "NATS_USER", flag: "--nats-user", default: "", allowed: "user name", describe: "NATS user (with NATS_PASS).", parse: natsField("user") },
  { key: "nats", env: "NATS_PASS", flag: "--nats-pass", default: "", allowed: "password", describe: "NATS password.", parse: natsField("pass") },
  { key: "nats", env: "NATS_CREDS", flag: "--nats-creds", default: "", allowed: "path of a .creds file", describe: "NATS decentralised auth (JWT + nkey) credentials file.", parse: natsField("credsFile") },
  { key: "nats", env: "NATS_TLS_CA", flag: "--nats-tls-ca", default: "", allowed: "PEM file path", describe: "CA certificate to verify NATS servers (enables TLS).", parse: natsField("tlsCaFile") },
  { key: "nats", env: "NATS_TLS_CERT", flag: "--nats-tls-cert", default: "", allowed: "PEM file path", describe: "Client certificate for NATS mutual TLS.", parse: natsField("tlsCertFile") },
  { key: "nats", env: "NATS_TLS_KEY", flag: "--nats-tls-key", default: "", allowed: "PEM file path", describe: "Client key for NATS mutual TLS.", parse: natsField("tlsKeyFile") },
  { key: "registry", env: "REGISTRY", flag: "--registry", default: "memory", allowed: "memory | etcd://host:port[,etcd://host:port...]", describe: "Service registry: in-process, or etcd (leases, watch, supergraph store).", parse: parseRegistry },
  { key: "registryTtlS", env: "REGISTRY_TTL_S", flag: "--registry-ttl-s", default: "10", allowed: "1-300 (seconds)", describe: "etcd lease TTL: a dead instance disappears within this time.", parse: intIn(1, 300) },
  { key: "databaseUrl", env: "DATABASE_URL", flag: "--database-url", default: "", allowed: "sqlite:<path> | postgres://user:pass@host:port/db", describe: "Database of every module (unset: SQLite files in DATA_DIR). A shared postgres URL gives each module its own schema; sqlite:<dir> one file per module in <dir>.", parse: (raw) => (raw === "" ? undefined : parseDatabaseUrl(raw)) },
  { key: "dbPoolMax", env: "DB_POOL_MAX", flag: "--db-pool-max", default: "10", allowed: "1-200", describe: "Max PostgreSQL connections per module.", parse: intIn(1, 200) },
  { key: "gatewaySubgraphs", env: "GATEWAY_SUBGRAPHS", flag: "--gateway-subgraphs", default: "", allowed: "comma list of module names", describe: "Subgraphs the gateway waits for before it is ready (default: the modules of this process with REGISTRY=memory, every module with etcd).", parse: (raw, ctx) => (raw === "" ? undefined : parseModules(raw, { parts: ctx.parts.filter((p) => p !== "gateway") })) },
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
    rows.push(`  ${"".padEnd(22)} ${moduleDbEnv(part).padEnd(20)} default DATABASE_URL\n      Database of the ${part} module only. Allowed: sqlite:<file> | postgres://...`);
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
