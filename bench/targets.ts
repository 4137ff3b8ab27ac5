import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { freePort, spawnServer, type ServerProcess } from "../scripts/devservers/proc.ts";
import { startNats, type NatsServer } from "../scripts/devservers/nats.ts";
import { SUBGRAPH_NAMES, fixtureSupergraph, rewriteSupergraphUrls } from "./fixture/data.ts";

/** Repository root. */
export const ROOT = resolve(import.meta.dir, "..");

/** Names of the gateway benchmark targets, in report order. */
export const TARGET_NAMES = [
  "switchyard-monolith",
  "switchyard-monolith-nodedup",
  "switchyard-nats",
  "switchyard-nats-nodedup",
  "switchyard-http",
  "switchyard-http-nodedup",
  "hive-gateway-bun",
  "hive-gateway-node",
  "hive-gateway-bun-router",
  "apollo-gateway",
  "ceiling",
] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/** Infrastructure shared by several targets, started once per run. */
export interface SharedDeps {
  /** Temp dir of this run (supergraph files, canonical bodies). */
  dir: string;
  /** Supergraph pointing at the HTTP subgraphs (started on first use). */
  httpSupergraph(): Promise<string>;
  /** Supergraph whose URLs are bus://graphql.<name>. */
  busSupergraph(): string;
  /** nats-server URL (started on first use). */
  natsUrl(): Promise<string>;
  /** Pids of the shared processes a target uses (HTTP subgraphs, nats-server). */
  pidsFor(target: TargetName): number[];
  /** Spawns a process of a target, resolves once a stdout line matches `ready` (at once when null). */
  spawn(cmd: string[], env: Record<string, string>, ready: RegExp | null, what: string): Promise<{ server: ServerProcess; line: string }>;
  stop(): Promise<void>;
}

/** A started target: the gateway URL and the processes that are its own. */
export interface RunningTarget {
  url: string;
  /** Pid of the process answering HTTP (the gateway). */
  gatewayPid: number;
  /** Every process of the target (gateway, and the modules process for switchyard-nats). */
  pids: number[];
  stop(): Promise<void>;
}

export interface TargetDef {
  name: TargetName;
  /** One line for the report: what runs and where. */
  describe: string;
  /** Needs the HTTP subgraphs / nats-server. */
  uses: readonly ("http-subgraphs" | "nats")[];
  start(deps: SharedDeps): Promise<RunningTarget>;
}

const BUN = process.execPath;
/** Where BENCH_PROFILE=1 writes CPU profiles (`bun --cpu-prof`, .cpuprofile + markdown), per process. */
export const PROFILE_DIR = process.env["BENCH_PROFILE_DIR"] ?? join(ROOT, "bench", "results", "profiles");
/**
 * The Bun command of a target's process; with `BENCH_PROFILE=1`, under Bun's CPU profiler
 * (written when the process exits at the end of the run, into {@link PROFILE_DIR}/<name>/).
 */
const bun = (name: string): string[] =>
  process.env["BENCH_PROFILE"] === "1" ? [BUN, "--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${join(PROFILE_DIR, name)}`] : [BUN];
const NODE = Bun.which("node") ?? "node";
/**
 * Same environment for every target: production mode, quiet logs. For Switchyard also: no
 * response cache (every request must do the federated work, as for the other gateways), no
 * rate limit and no cap on unpaid orders per account (one client sends all the load), and the embedded transports and databases
 * whatever the caller's environment says (a target sets BUS / DATABASE_URL itself).
 */
export const BASE_ENV: Record<string, string> = {
  NODE_ENV: "production",
  LOG_LEVEL: "warn",
  // Operations listener (/metrics, /admin/*) on a free port: several bench processes run at once.
  OPS_PORT: "0",
  RESPONSE_CACHE: "false",
  // Subgraph request deduplication as shipped (on); the `-nodedup` targets turn it off.
  SUBGRAPH_DEDUP: "true",
  RATE_LIMIT_MAX: "0",
  // The scenarios register their callers first (the registration/login budget is 10 a minute).
  RATE_LIMIT_AUTH_MAX: "0",
  ORDER_MAX_PENDING: "1000000",
  BUS: "memory",
  REGISTRY: "memory",
  DATABASE_URL: "",
  ACCOUNT_DATABASE_URL: "",
  CATALOG_DATABASE_URL: "",
  ORDER_DATABASE_URL: "",
  PAYMENT_DATABASE_URL: "",
  SUPERGRAPH_FILE: "",
  GATEWAY_SUBGRAPHS: "",
  // Shared by the NATS target's gateway and modules processes (required with BUS=nats in production).
  BUS_SIGNING_KEY: "bench-bus-key-bench-bus-key-bench-bus-key-0123",
};
const JWT = "bench-secret-bench-secret-bench-secret-0123456789";

async function waitReady(url: string, server: ServerProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.proc.exitCode !== null)
      throw new Error(`exited with ${server.proc.exitCode} before ${url} answered 200:\n${server.output().slice(-3000)}`);
    const ok = await fetch(url, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return;
    await Bun.sleep(50);
  }
  throw new Error(`not ready after ${timeoutMs} ms: ${url}\n${server.output().slice(-3000)}`);
}

const portOf = (line: string): number => {
  const m = /(\d+)\s*$/.exec(line);
  if (!m) throw new Error(`no port in ready line "${line}"`);
  return Number(m[1]);
};

/** Starts a gateway process that prints `<TAG> <port>` when listening (hive, apollo, ceiling). */
async function startPrinted(
  deps: SharedDeps,
  cmd: string[],
  tag: string,
  what: string,
  env: Record<string, string> = {},
): Promise<RunningTarget> {
  const { server, line } = await deps.spawn(cmd, { ...BASE_ENV, ...env, PORT: "0" }, new RegExp(`^${tag} \\d+`), what);
  return {
    url: `http://127.0.0.1:${portOf(line)}/graphql`,
    gatewayPid: server.proc.pid,
    pids: [server.proc.pid],
    stop: () => server.kill(),
  };
}

/** Starts the main binary (`bun src/main.ts`) as a gateway serving a supergraph file. */
async function startSwitchyardGateway(
  deps: SharedDeps,
  supergraph: string,
  env: Record<string, string>,
  profileName: string,
): Promise<{ server: ServerProcess; url: string }> {
  const port = await freePort();
  const { server } = await deps.spawn(
    [...bun(profileName), join(ROOT, "src/main.ts"), "--supergraph", supergraph],
    { ...BASE_ENV, ...env, MODULES: "gateway", PORT: String(port), JWT_SECRET: JWT, DATA_DIR: join(deps.dir, "data") },
    null,
    "switchyard gateway",
  );
  await waitReady(`http://127.0.0.1:${port}/health/ready`, server);
  return { server, url: `http://127.0.0.1:${port}/graphql` };
}

/** Extra environment of the `-nodedup` variants: subgraph request deduplication off. */
const NO_DEDUP: Record<string, string> = { SUBGRAPH_DEDUP: "false" };
/** Suffix of a variant's description. */
const variant = (env: Record<string, string>): string => (env["SUBGRAPH_DEDUP"] === "false" ? "; SUBGRAPH_DEDUP=false" : "");

/** `switchyard-monolith` (and its variants: `env` on top of the bench environment). */
function switchyardMonolith(name: TargetName, env: Record<string, string>): TargetDef {
  return {
    name,
    describe: `Switchyard, one Bun process: the 4 fixture subgraphs as modules + gateway, in-memory bus, supergraph composed from the registry${variant(env)}`,
    uses: [],
    async start(deps) {
      const port = await freePort();
      const { server } = await deps.spawn(
        [...bun(name), join(ROOT, "bench/servers/switchyard.ts")],
        { ...BASE_ENV, ...env, PORT: String(port) },
        /^SWITCHYARD_READY/,
        "switchyard monolith",
      );
      await waitReady(`http://127.0.0.1:${port}/health/ready`, server);
      return { url: `http://127.0.0.1:${port}/graphql`, gatewayPid: server.proc.pid, pids: [server.proc.pid], stop: () => server.kill() };
    },
  };
}

/** `switchyard-nats` (and its variants: `env` on top of the bench environment, for the gateway). */
function switchyardNats(name: TargetName, env: Record<string, string>): TargetDef {
  return {
    name,
    describe: `Switchyard split: gateway process (main binary, --supergraph with bus:// URLs) → nats-server → 4 fixture modules in a second Bun process${variant(env)}`,
    uses: ["nats"],
    async start(deps) {
      const nats = await deps.natsUrl();
      const { server: modules } = await deps.spawn(
        [...bun(`${name}-modules`), join(ROOT, "bench/servers/switchyard.ts"), "--modules-only"],
        { ...BASE_ENV, BUS: nats },
        /^SWITCHYARD_READY/,
        "fixture modules on NATS",
      );
      const gw = await startSwitchyardGateway(deps, deps.busSupergraph(), { ...env, BUS: nats }, `${name}-gateway`);
      return {
        url: gw.url,
        gatewayPid: gw.server.proc.pid,
        pids: [gw.server.proc.pid, modules.proc.pid],
        stop: async () => {
          await gw.server.kill();
          await modules.kill();
        },
      };
    },
  };
}

/** `switchyard-http` (and its variants: `env` on top of the bench environment). */
function switchyardHttp(name: TargetName, env: Record<string, string>): TargetDef {
  return {
    name,
    describe: `Switchyard gateway (main binary, --supergraph) over the 4 HTTP subgraphs${variant(env)}`,
    uses: ["http-subgraphs"],
    async start(deps) {
      const gw = await startSwitchyardGateway(deps, await deps.httpSupergraph(), env, name);
      return { url: gw.url, gatewayPid: gw.server.proc.pid, pids: [gw.server.proc.pid], stop: () => gw.server.kill() };
    },
  };
}

/** Every target, by name. */
export const TARGETS: Record<TargetName, TargetDef> = {
  "switchyard-monolith": switchyardMonolith("switchyard-monolith", {}),
  "switchyard-monolith-nodedup": switchyardMonolith("switchyard-monolith-nodedup", NO_DEDUP),
  "switchyard-nats": switchyardNats("switchyard-nats", {}),
  "switchyard-nats-nodedup": switchyardNats("switchyard-nats-nodedup", NO_DEDUP),
  "switchyard-http": switchyardHttp("switchyard-http", {}),
  "switchyard-http-nodedup": switchyardHttp("switchyard-http-nodedup", NO_DEDUP),
  "hive-gateway-bun": {
    name: "hive-gateway-bun",
    describe: "Hive Gateway (@graphql-hive/gateway runtime) on Bun over the 4 HTTP subgraphs",
    uses: ["http-subgraphs"],
    start: async (deps) =>
      startPrinted(
        deps,
        [...bun("hive-gateway-bun"), join(ROOT, "bench/servers/hive-gateway.mjs"), await deps.httpSupergraph()],
        "HIVE_READY",
        "hive gateway (bun)",
      ),
  },
  "hive-gateway-node": {
    name: "hive-gateway-node",
    describe: "Hive Gateway (@graphql-hive/gateway runtime) on Node over the 4 HTTP subgraphs",
    uses: ["http-subgraphs"],
    start: async (deps) =>
      startPrinted(
        deps,
        [NODE, join(ROOT, "bench/servers/hive-gateway.mjs"), await deps.httpSupergraph()],
        "HIVE_READY",
        "hive gateway (node)",
      ),
  },
  "hive-gateway-bun-router": {
    name: "hive-gateway-bun-router",
    describe:
      "Hive Gateway on Bun with the Hive Router runtime (@graphql-hive/router-runtime: Rust query planner, native addon) over the 4 HTTP subgraphs",
    uses: ["http-subgraphs"],
    start: async (deps) =>
      startPrinted(
        deps,
        [...bun("hive-gateway-bun-router"), join(ROOT, "bench/servers/hive-gateway.mjs"), await deps.httpSupergraph()],
        "HIVE_READY",
        "hive gateway (bun, router runtime)",
        { HIVE_ROUTER_RUNTIME: "1" },
      ),
  },
  "apollo-gateway": {
    name: "apollo-gateway",
    describe: "@apollo/gateway + @apollo/server (standalone) on Node over the 4 HTTP subgraphs",
    uses: ["http-subgraphs"],
    start: async (deps) =>
      startPrinted(
        deps,
        [NODE, join(ROOT, "bench/servers/apollo-gateway.mjs"), await deps.httpSupergraph()],
        "APOLLO_READY",
        "apollo gateway",
      ),
  },
  ceiling: {
    name: "ceiling",
    describe: "No federation: one Bun process, graphql-yoga, one schema with every fixture resolver",
    uses: [],
    start: (deps) => startPrinted(deps, [...bun("ceiling"), join(ROOT, "bench/servers/ceiling.ts")], "CEILING_READY", "ceiling"),
  },
};

/**
 * Creates the shared dependencies of a run in `dir`. Processes are started lazily, pinned to
 * the CPUs of the servers by `pinFn` (taskset), and all stopped by `stop()`.
 */
export function createSharedDeps(dir: string, pinFn: (pids: number[]) => void): SharedDeps {
  const started: ServerProcess[] = [];
  let subgraphs: Promise<{ file: string; server: ServerProcess }> | undefined;
  let nats: Promise<NatsServer> | undefined;
  let subgraphPid: number | undefined;
  let natsPid: number | undefined;
  const busFile = join(dir, "supergraph.bus.graphql");
  writeFileSync(
    busFile,
    rewriteSupergraphUrls(fixtureSupergraph(), (n) =>
      (SUBGRAPH_NAMES as readonly string[]).includes(n) ? `bus://graphql.${n}` : undefined,
    ),
  );

  const deps: SharedDeps = {
    dir,
    spawn(cmd, env, ready, what) {
      return new Promise((resolvePromise, reject) => {
        let settled = false;
        const server = spawnServer(cmd, {
          env,
          cwd: ROOT,
          onLine: (line) => {
            if (!settled && ready?.test(line)) {
              settled = true;
              clearTimeout(timer);
              pinFn([server.proc.pid]);
              resolvePromise({ server, line });
            }
          },
        });
        started.push(server);
        if (ready === null) {
          settled = true;
          pinFn([server.proc.pid]);
          resolvePromise({ server, line: "" });
          return;
        }
        const timer = setTimeout(() => {
          if (settled) return;
          settled = true;
          void server.kill(1000);
          reject(new Error(`${what} did not start within 60 s:\n${server.output().slice(-3000)}`));
        }, 60_000);
        void server.proc.exited.then((code) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          reject(new Error(`${what} exited with ${code} before it was ready:\n${server.output().slice(-3000)}`));
        });
      });
    },
    httpSupergraph() {
      subgraphs ??= (async () => {
        const { server, line } = await deps.spawn(
          [...bun("http-subgraphs"), join(ROOT, "bench/servers/http-subgraphs.ts")],
          { ...BASE_ENV },
          /^SUBGRAPHS /,
          "HTTP subgraphs",
        );
        subgraphPid = server.proc.pid;
        const urls = JSON.parse(line.slice("SUBGRAPHS ".length)) as Record<string, string>;
        const file = join(dir, "supergraph.http.graphql");
        writeFileSync(
          file,
          rewriteSupergraphUrls(fixtureSupergraph(), (n) => urls[n]),
        );
        return { file, server };
      })();
      return subgraphs.then((s) => s.file);
    },
    busSupergraph: () => busFile,
    natsUrl() {
      nats ??= startNats().then((n) => {
        natsPid = n.server.proc.pid;
        pinFn([natsPid]);
        return n;
      });
      return nats.then((n) => n.url);
    },
    pidsFor(target) {
      const uses = TARGETS[target].uses;
      const out: number[] = [];
      if (uses.includes("http-subgraphs") && subgraphPid !== undefined) out.push(subgraphPid);
      if (uses.includes("nats") && natsPid !== undefined) out.push(natsPid);
      return out;
    },
    async stop() {
      await Promise.all(started.map((s) => s.kill(3000)));
      if (nats) await (await nats).stop();
    },
  };
  return deps;
}
