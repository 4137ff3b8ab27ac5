import { existsSync } from "node:fs";
import {
  bool,
  type Config,
  ConfigError,
  checkParts,
  commaList,
  defineOptions,
  int,
  type OptionsOf,
  oneOf,
  option,
  orUnset,
  parsed,
  parseTtls,
} from "../kernel/config.ts";
import type { PartContext } from "../kernel/module.ts";

/** A path that must exist when the process starts. */
const existingFile =
  (what: string) =>
  (raw: string): string => {
    if (!existsSync(raw)) throw new ConfigError(what);
    return raw;
  };

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

/** A comma list of GraphQL field names (RATE_LIMIT_AUTH_FIELDS), deduplicated. */
function parseFieldNames(raw: string): string[] {
  const list = commaList(raw);
  const bad = list.find((n) => !/^[_A-Za-z]\w*$/.test(n));
  if (list.length === 0 || bad !== undefined)
    throw new ConfigError(`a comma list of GraphQL field names${bad === undefined ? "" : `; "${bad}" is not one`}`);
  return [...new Set(list)];
}

/** Development aids default on only with NODE_ENV=development (a kernel option, parsed before these). */
const developmentOnly = (parsedSoFar: Readonly<Record<string, unknown>>): boolean => parsedSoFar["nodeEnv"] === "development";

/**
 * The gateway's options: subgraph calls, the supergraph source, protection limits, rate limits,
 * subscriptions, session checks and caches. Every process parses them (a bad value fails fast
 * wherever it is set); only a process running the gateway uses them.
 */
export const gatewayOptions = defineOptions("gateway", {
  subgraphTimeoutMs: option(int(100, 120_000), {
    env: "SUBGRAPH_TIMEOUT_MS",
    flag: "--subgraph-timeout-ms",
    default: "10000",
    allowed: "100-120000 (ms)",
    describe: "Timeout of one gateway-to-subgraph request over the bus.",
  }),
  subgraphDedup: option(bool(), {
    env: "SUBGRAPH_DEDUP",
    flag: "--subgraph-dedup",
    default: "true",
    allowed: "true | false",
    describe:
      "Identical query fetches in flight to the same subgraph (same document, variables, operation name and caller identity) share one execution, over the bus and HTTP; never mutations or subscriptions. Counted by switchyard_subgraph_fetch_deduplicated_total (like Apollo Router's deduplicate_query and Hive Gateway's deduplicateInflightRequests).",
  }),
  gatewaySubgraphs: option(orUnset(parsed(commaList)), {
    env: "GATEWAY_SUBGRAPHS",
    flag: "--gateway-subgraphs",
    default: "",
    allowed: "comma list of module names",
    describe:
      "Subgraphs the gateway waits for before it is ready (default: the modules of this process with REGISTRY=memory, every module with etcd).",
    refine: (list, ctx) =>
      list === undefined
        ? undefined
        : checkParts(
            list,
            ctx.parts.filter((p) => p !== "gateway"),
          ),
  }),
  supergraphFile: option(orUnset(parsed(existingFile("path of an existing supergraph SDL file"))), {
    env: "SUPERGRAPH_FILE",
    flag: "--supergraph",
    default: "",
    allowed: "path of a supergraph SDL file",
    describe:
      "Gateway serves this supergraph instead of composing from the registry; subgraphs are reached at their join__graph URLs (http(s)://... over HTTP, bus://graphql.<name> over the bus).",
  }),
  queryPlanner: option(oneOf(["rust", "js"]), {
    env: "QUERY_PLANNER",
    flag: "--query-planner",
    default: "rust",
    allowed: "rust | js",
    describe:
      "Gateway runtime of queries and mutations: rust (The Guild's Rust query planner, @graphql-hive/router-runtime) or js (@graphql-tools stitching); subscriptions always run on js.",
  }),
  graphiql: option(bool(), {
    env: "GRAPHIQL",
    flag: "--graphiql",
    default: "",
    allowed: "true | false (unset: true only with NODE_ENV=development)",
    describe: "Serve GraphiQL on GET /graphql to browsers.",
    whenEmpty: developmentOnly,
  }),
  introspection: option(bool(), {
    env: "INTROSPECTION",
    flag: "--introspection",
    default: "",
    allowed: "true | false (unset: true only with NODE_ENV=development)",
    describe: 'Allow introspection queries; when off, field suggestions ("Did you mean") are hidden too.',
    whenEmpty: developmentOnly,
  }),
  subgraphTimings: option(bool(), {
    env: "SUBGRAPH_TIMINGS",
    flag: "--subgraph-timings",
    default: "",
    allowed: "true | false (unset: true only with NODE_ENV=development)",
    describe: "Let clients ask for per-subgraph timings (header x-switchyard-trace: 1; subgraphs answer Apollo ftv1 traces).",
    whenEmpty: developmentOnly,
  }),
  maxDepth: option(int(0, 1000), {
    env: "MAX_DEPTH",
    flag: "--max-depth",
    default: "12",
    allowed: "0-1000 (0 = no limit)",
    describe: "Max selection depth of an operation (QUERY_TOO_DEEP).",
  }),
  maxAliases: option(int(0, 100_000), {
    env: "MAX_ALIASES",
    flag: "--max-aliases",
    default: "30",
    allowed: "0-100000 (0 = no limit)",
    describe: "Max aliases in an operation (TOO_MANY_ALIASES).",
  }),
  maxTokens: option(int(0, 1_000_000), {
    env: "MAX_TOKENS",
    flag: "--max-tokens",
    default: "2000",
    allowed: "0-1000000 (0 = no limit)",
    describe: "Max lexical tokens in a GraphQL document, checked while parsing (TOO_MANY_TOKENS).",
  }),
  maxDirectives: option(int(0, 100_000), {
    env: "MAX_DIRECTIVES",
    flag: "--max-directives",
    default: "50",
    allowed: "0-100000 (0 = no limit)",
    describe: "Max directives in an operation (TOO_MANY_DIRECTIVES).",
  }),
  maxCost: option(int(0, 100_000_000), {
    env: "MAX_COST",
    flag: "--max-cost",
    default: "5000",
    allowed: "0-100000000 (0 = no limit)",
    describe: "Max static cost of an operation: object 2, scalar 1, times 1.5 per depth level (QUERY_TOO_COMPLEX).",
  }),
  maxJsonDepth: option(int(0, 10_000), {
    env: "MAX_JSON_DEPTH",
    flag: "--max-json-depth",
    default: "64",
    allowed: "0-10000 (0 = no limit)",
    describe: "Max nesting of arrays and objects in a request's variables and extensions (JSON_TOO_DEEP, HTTP 400).",
  }),
  maxBodyBytes: option(int(1024, 1_073_741_824), {
    env: "MAX_BODY_BYTES",
    flag: "--max-body-bytes",
    default: "1048576",
    allowed: "1024-1073741824 (bytes)",
    describe: "Max request body on /graphql; larger requests get 413 PAYLOAD_TOO_LARGE.",
  }),
  corsOrigins: option(parsed(parseCorsOrigins), {
    env: "CORS_ORIGINS",
    flag: "--cors-origins",
    default: "",
    allowed: "empty | * | comma list of https://host[:port]",
    describe: "Origins allowed to call /graphql from a browser (CORS); empty: no cross-origin access.",
  }),
  trustProxy: option(bool(), {
    env: "TRUST_PROXY",
    flag: "--trust-proxy",
    default: "false",
    allowed: "true | false",
    describe: "Client IP (rate limiting) from Fly-Client-IP, else the last X-Forwarded-For entry; only behind a proxy that sets them.",
  }),
  rateLimitMax: option(int(0, 1_000_000), {
    env: "RATE_LIMIT_MAX",
    flag: "--rate-limit-max",
    default: "600",
    allowed: "0-1000000 (0 = off)",
    describe:
      "Requests per account (valid token) per RATE_LIMIT_WINDOW_S, on top of the IP budget RATE_LIMIT_IP_MAX; more get 429 RATE_LIMITED. Shared by all gateways over NATS KV in split mode.",
  }),
  rateLimitWindowS: option(int(1, 86_400), {
    env: "RATE_LIMIT_WINDOW_S",
    flag: "--rate-limit-window-s",
    default: "60",
    allowed: "1-86400 (seconds)",
    describe: "Rate-limit window (fixed windows aligned to the clock).",
  }),
  rateLimitIpMax: option(int(0, 1_000_000), {
    env: "RATE_LIMIT_IP_MAX",
    flag: "--rate-limit-ip-max",
    default: "",
    allowed: "0-1000000 (0 = off; unset: 3 x RATE_LIMIT_MAX)",
    describe:
      "Requests per client IP per RATE_LIMIT_WINDOW_S, with or without a token (a token never lifts it; room for a NAT shared by a few users); more get 429 RATE_LIMITED.",
    whenEmpty: (v) => 3 * Number(v["rateLimitMax"] ?? 0),
  }),
  rateLimitAuthMax: option(int(0, 1_000_000), {
    env: "RATE_LIMIT_AUTH_MAX",
    flag: "--rate-limit-auth-max",
    default: "10",
    allowed: "0-1000000 (0 = off)",
    describe:
      "Registration/login operations (RATE_LIMIT_AUTH_FIELDS, each field of a request counted) per client IP per RATE_LIMIT_WINDOW_S; more get RATE_LIMITED (HTTP 429).",
  }),
  rateLimitAuthFields: option(parsed(parseFieldNames), {
    env: "RATE_LIMIT_AUTH_FIELDS",
    flag: "--rate-limit-auth-fields",
    default: "register,login,refreshToken",
    allowed: "comma list of Mutation field names",
    describe: "Mutation fields counted against RATE_LIMIT_AUTH_MAX.",
  }),
  maxSubscriptionsPerConnection: option(int(0, 100_000), {
    env: "MAX_SUBSCRIPTIONS_PER_CONNECTION",
    flag: "--max-subscriptions-per-connection",
    default: "20",
    allowed: "0-100000 (0 = no limit)",
    describe: "Concurrent subscriptions on one WebSocket; more are refused with SUBSCRIPTION_LIMIT (the socket stays open).",
  }),
  maxSubscriptionsPerAccount: option(int(0, 100_000), {
    env: "MAX_SUBSCRIPTIONS_PER_ACCOUNT",
    flag: "--max-subscriptions-per-account",
    default: "50",
    allowed: "0-100000 (0 = no limit)",
    describe: "Concurrent subscriptions of one account (WebSocket and SSE), per gateway; more are refused with SUBSCRIPTION_LIMIT.",
  }),
  maxSubscriptionsPerIp: option(int(0, 100_000), {
    env: "MAX_SUBSCRIPTIONS_PER_IP",
    flag: "--max-subscriptions-per-ip",
    default: "200",
    allowed: "0-100000 (0 = no limit)",
    describe:
      "Concurrent subscriptions from one client IP, with or without a token (WebSocket and SSE), per gateway; more are refused with SUBSCRIPTION_LIMIT.",
  }),
  sessionCheckTtlMs: option(int(0, 300_000), {
    env: "SESSION_CHECK_TTL_MS",
    flag: "--session-check-ttl-ms",
    default: "5000",
    allowed: "0-300000 (ms)",
    describe:
      "How long a gateway caches the account module's answer that a token's account and session are active: the bound on refusing a disabled account or revoked session when the event was missed. 0 = check every request.",
  }),
  sessionCheckMax: option(int(1, 10_000_000), {
    env: "SESSION_CHECK_MAX",
    flag: "--session-check-max",
    default: "10000",
    allowed: "1-10000000 (entries)",
    describe: "Session-check answers a gateway caches (LRU).",
  }),
  responseCache: option(bool(), {
    env: "RESPONSE_CACHE",
    flag: "--response-cache",
    default: "true",
    allowed: "true | false",
    describe: "Cache public read responses at the gateway (per caller, invalidated by catalog events).",
  }),
  responseCacheMax: option(int(1, 1_000_000), {
    env: "RESPONSE_CACHE_MAX",
    flag: "--response-cache-max",
    default: "1000",
    allowed: "1-1000000 (entries)",
    describe: "Max cached responses per gateway (least recently used are evicted).",
  }),
  responseCacheTtlMs: option(int(0, 86_400_000), {
    env: "RESPONSE_CACHE_TTL_MS",
    flag: "--response-cache-ttl-ms",
    default: "0",
    allowed: "0-86400000 (ms)",
    describe: "TTL of a response none of whose types has its own TTL in RESPONSE_CACHE_TTLS; 0: such responses are not cached.",
  }),
  responseCacheTtls: option(parsed(parseTtls), {
    env: "RESPONSE_CACHE_TTLS",
    flag: "--response-cache-ttls",
    default: "Product=60000,Category=300000,Account=0,Order=0",
    allowed: "comma list of <Type or Type.field>=<ms>",
    describe: "TTL per type or schema coordinate; a response gets the smallest TTL of the types it contains; 0 = never cached.",
  }),
  persistedOperations: option(oneOf(["off", "apq", "only"]), {
    env: "PERSISTED_OPERATIONS",
    flag: "--persisted-operations",
    default: "apq",
    allowed: "off | apq | only",
    describe: "apq: Automatic Persisted Queries; only: execute only the operations of PERSISTED_OPERATIONS_FILE.",
  }),
  persistedOperationsFile: option(orUnset(parsed(existingFile("path of an existing JSON manifest"))), {
    env: "PERSISTED_OPERATIONS_FILE",
    flag: "--persisted-operations-file",
    default: "",
    allowed: "path of a JSON manifest (required with PERSISTED_OPERATIONS=only)",
    describe: 'Allow-list: { "<sha256>": "<query>" } or an Apollo persisted query manifest.',
    whenEmpty: (v) => {
      if (v["persistedOperations"] === "only") throw new ConfigError("a manifest path (PERSISTED_OPERATIONS=only needs one)");
      return undefined;
    },
  }),
  apqMax: option(int(1, 1_000_000), {
    env: "APQ_MAX",
    flag: "--apq-max",
    default: "1000",
    allowed: "1-1000000 (entries)",
    describe: "Max operations registered by Automatic Persisted Queries per gateway (LRU).",
  }),
  operationCacheMax: option(int(1, 1_000_000), {
    env: "OPERATION_CACHE_MAX",
    flag: "--operation-cache-max",
    default: "1000",
    allowed: "1-1000000 (entries)",
    describe: "Max parsed operations (and parse errors) cached by the gateway (LRU); bounds validation and query-plan caches too.",
  }),
});

/** The gateway's options, typed (`z.infer` of {@link gatewayOptions}). */
export type GatewayOptions = OptionsOf<typeof gatewayOptions>;

/** What the gateway reads: the kernel's config and its own options. */
export type GatewayConfig = Config & GatewayOptions;

/** The part context as the gateway's code sees it: `config` holds the gateway's options too. */
export type GatewayPartContext = Omit<PartContext<GatewayOptions>, "config"> & { readonly config: GatewayConfig };
