/**
 * Launches the split topology on this machine: real nats-server (JetStream), etcd and
 * PostgreSQL from Debian's packages on free loopback ports in temp dirs, plus one process of
 * the binary per part (gateway, account, catalog, order, payment), each module on its own PostgreSQL
 * database — or, given `databaseUrl`, every module in its own schema of that existing database
 * (e.g. where `switchyard data copy` moved a monolith's data). Used by `npm run start:split` and
 * by the end-to-end suite's `split` topology.
 */
import { startEtcd, startNats, startPostgres, type EtcdServer, type NatsServer, type PostgresServer } from "./devservers/index.ts";
import { freePort, spawnServer, waitUntil, type ServerProcess } from "./devservers/proc.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { GATEWAY_PART, natsAuthorizationConfig, type ModuleContract, type NatsUserSpec } from "../src/kernel/bus/nats-permissions.ts";
import { gatewayContract, moduleContracts } from "./nats-permissions.ts";
import { MODULES } from "../src/module-list.ts";

export const ROOT = resolve(import.meta.dir, "..");
/** The modules of the split topology: every module of the binary (src/module-list.ts), each its own process. */
export const SPLIT_MODULES: readonly string[] = Object.keys(MODULES);

export interface SplitOptions {
  /** Command running the binary; default `bun src/main.ts`. */
  command?: string[];
  /** Extra env for every process. */
  env?: Record<string, string>;
  /** Gateway HTTP port; default a free one. */
  port?: number;
  /** Instances per module, default 1. */
  instances?: Partial<Record<string, number>>;
  /**
   * Modules besides the binary's (e.g. test fixtures run from their own files) that get a NATS
   * user too, with the permissions of their contract.
   */
  extraModules?: readonly ModuleContract[];
  /** NATS users for processes that run several of those modules together (user name, parts). */
  extraUsers?: readonly { user: string; parts: readonly string[] }[];
  /** Called with each process's output lines (e.g. to print them prefixed). */
  onOutput?: (name: string, line: string) => void;
  cwd?: string;
  /**
   * An existing PostgreSQL database (`postgres://...`) for every module, passed as
   * `DATABASE_URL`: each module in its own schema, as src/kernel/storage/resolve.ts maps it, so
   * the data `switchyard data copy --to <this url>` moved is what the processes serve. No
   * PostgreSQL is started then. Default: a throwaway server with one database per module.
   */
  databaseUrl?: string;
}

/** One process of the binary in the topology. */
export interface SplitProcess {
  name: string;
  /** MODULES value. */
  part: string;
  server: ServerProcess;
  env: Record<string, string>;
}

export interface SplitTopology {
  nats: NatsServer;
  etcd: EtcdServer;
  /** The PostgreSQL server this topology started; undefined when it runs on {@link SplitOptions.databaseUrl}. */
  postgres: PostgresServer | undefined;
  processes: SplitProcess[];
  baseUrl: string;
  graphqlUrl: string;
  /** Operations listener of the gateway (`/metrics`, `/admin/*`): every process gets its own free OPS_PORT. */
  opsUrl: string;
  /** Env shared by every process (BUS, REGISTRY, JWT_SECRET...). */
  sharedEnv: Record<string, string>;
  /**
   * NATS credentials of `part` (`NATS_USER`, `NATS_PASS`): nats-server runs with one user per
   * part and the subject permissions generated from the modules' contracts
   * (src/kernel/bus/nats-permissions.ts). Throws for a part without a user.
   */
  natsEnv(part: string): Record<string, string>;
  /** An unrestricted NATS user for operators and tests that inspect streams (never given to a part). */
  natsOps: { user: string; pass: string };
  /** Starts one more process running `part` (e.g. a second catalog) and waits until it registered. */
  spawn(part: string, name?: string, extraEnv?: Record<string, string>): Promise<SplitProcess>;
  /** All processes' output, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** Base URL of the operations listener a process of the binary logged (`ops endpoints on http://...`). */
export function opsUrlOf(p: SplitProcess): string {
  const m = /ops endpoints on (http:\/\/[^\s"]+)/.exec(p.server.output());
  if (!m?.[1]) throw new Error(`no ops endpoint in the output of ${p.name}`);
  return m[1];
}

/** Processes of the binary {@link startSplit} starts: one per module instance, plus the gateway. */
export function splitProcessCount(instances: SplitOptions["instances"] = {}): number {
  return SPLIT_MODULES.reduce((n, m) => n + (instances[m] ?? 1), 0) + 1;
}

/**
 * Stops a topology in dependency order: gateways first (they stop accepting and drain), then
 * the module processes (they finish their work, which still needs the bus, registry and
 * database), and only then NATS, etcd and PostgreSQL.
 */
export async function stopInOrder(
  processes: readonly Pick<SplitProcess, "part" | "server">[],
  infrastructure: readonly { stop(): Promise<void> }[],
): Promise<void> {
  await Promise.all(processes.filter((p) => p.part === "gateway").map((p) => p.server.kill()));
  await Promise.all(processes.filter((p) => p.part !== "gateway").map((p) => p.server.kill()));
  await Promise.all(infrastructure.map((s) => s.stop()));
}

/** Starts infrastructure and the binary's processes (see {@link splitProcessCount}), and waits until the gateway is ready. */
export async function startSplit(opts: SplitOptions = {}): Promise<SplitTopology> {
  // One NATS user per part, with the permissions its contract allows, and a random password each run.
  const modules = [...moduleContracts(), ...(opts.extraModules ?? [])];
  const secret = (): string => randomBytes(24).toString("base64url");
  const natsUsers: NatsUserSpec[] = [GATEWAY_PART, ...modules.map((m) => m.name)].map((part) => ({
    user: part,
    password: secret(),
    parts: [part],
  }));
  for (const u of opts.extraUsers ?? []) natsUsers.push({ user: u.user, password: secret(), parts: u.parts });
  const natsOps = { user: "ops", pass: secret() };
  const natsConfig = natsAuthorizationConfig(
    [...natsUsers, { user: natsOps.user, password: natsOps.pass, parts: "unrestricted" }],
    modules,
    gatewayContract(),
  );
  const natsEnv = (part: string): Record<string, string> => {
    const u = natsUsers.find((x) => x.user === part);
    if (!u || typeof u.password !== "string" || u.parts === "unrestricted") throw new Error(`no NATS user for part "${part}"`);
    return { NATS_USER: u.user, NATS_PASS: u.password };
  };
  const databaseUrl = opts.databaseUrl;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl))
    throw new Error("startSplit: databaseUrl must be a postgres:// URL (every module gets its schema there)");
  const started = await Promise.allSettled([
    startNats({ config: natsConfig }),
    startEtcd(),
    databaseUrl === undefined ? startPostgres() : Promise.resolve(undefined),
  ]);
  const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    // Stop what did start, so a failed launch leaves no server behind.
    await Promise.all(started.map((r) => (r.status === "fulfilled" ? r.value?.stop() : undefined)));
    throw failed.reason;
  }
  const [nats, etcd, postgres] = started.map(
    (r) => (r as PromiseFulfilledResult<NatsServer | EtcdServer | PostgresServer | undefined>).value,
  ) as [NatsServer, EtcdServer, PostgresServer | undefined];
  const infrastructure = [nats, etcd, ...(postgres ? [postgres] : [])];
  const dataDir = mkdtempSync(join(tmpdir(), "switchyard-split-"));
  const port = opts.port ?? (await freePort());
  // Where the modules keep their data: one database each on the server started here, or the
  // shared database given (the processes create their schemas at start: prepareDatabases).
  const dbUrls: Record<string, string> = {};
  try {
    if (postgres) for (const m of SPLIT_MODULES) dbUrls[`${m.toUpperCase()}_DATABASE_URL`] = await postgres.createDatabase(m);
    else dbUrls["DATABASE_URL"] = databaseUrl as string;
  } catch (err) {
    await Promise.all(infrastructure.map((s) => s.stop()));
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const sharedEnv: Record<string, string> = {
    BUS: nats.url,
    REGISTRY: `etcd://127.0.0.1:${etcd.port}`,
    REGISTRY_TTL_S: "3",
    JWT_SECRET: "split-secret-split-secret-split-secret-0123",
    BUS_SIGNING_KEY: secret(),
    DATA_DIR: dataDir,
    LOG_LEVEL: "info",
    ...dbUrls,
    ...opts.env,
  };
  const command = opts.command ?? [process.execPath, join(ROOT, "src/main.ts")];
  const processes: SplitProcess[] = [];
  let seq = 0;
  const launch = (part: string, name: string, extra: Record<string, string> = {}): SplitProcess => {
    // OPS_PORT=0: every process has its own operations listener on one machine (a free port, logged).
    const env = { ...sharedEnv, MODULES: part, PORT: part === "gateway" ? String(port) : "0", OPS_PORT: "0", ...natsEnv(part), ...extra };
    const onOutput = opts.onOutput;
    const server = spawnServer(command, {
      env,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      ...(onOutput ? { onLine: (line: string) => onOutput(name, line) } : {}),
    });
    const p = { name, part, server, env };
    processes.push(p);
    return p;
  };
  const baseUrl = `http://127.0.0.1:${port}`;
  const topology: SplitTopology = {
    nats,
    etcd,
    postgres,
    processes,
    baseUrl,
    graphqlUrl: `${baseUrl}/graphql`,
    opsUrl: "",
    sharedEnv,
    natsEnv,
    natsOps,
    async spawn(part, name, extraEnv) {
      const p = launch(part, name ?? `${part}-${++seq}`, extraEnv);
      // A module is up once it has registered; a gateway once it has a supergraph to serve.
      const marker = part === "gateway" ? '"msg":"switchyard started' : `module ${part} started`;
      await waitUntil(`${p.name} started`, () => p.server.output().includes(marker), p.server, 30_000);
      return p;
    },
    output: () => processes.map((p) => `--- ${p.name} ---\n${p.server.output().slice(-6000)}`).join("\n"),
    async stop() {
      await stopInOrder(processes, infrastructure);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  try {
    for (const m of SPLIT_MODULES) {
      for (let i = 0; i < (opts.instances?.[m] ?? 1); i++) launch(m, i === 0 ? m : `${m}-${i + 1}`);
    }
    const gateway = launch("gateway", "gateway");
    await waitUntil("gateway ready", async () => (await fetch(`${baseUrl}/health/ready`)).status === 200, gateway.server, 60_000).catch(
      (err: unknown) => {
        throw new Error(`${String(err)}\n${topology.output()}`);
      },
    );
    await waitUntil("gateway ops endpoint logged", () => gateway.server.output().includes("ops endpoints on"), gateway.server, 10_000);
    topology.opsUrl = opsUrlOf(gateway);
  } catch (err) {
    await topology.stop();
    throw err;
  }
  return topology;
}
