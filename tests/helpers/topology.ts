import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "./ports.ts";
import { spawnChild, waitHttpOk, type Child } from "./process.ts";
import { startSplit, type SplitTopology } from "../../scripts/split-topology.ts";

/** A running deployment of Switchyard that the end-to-end suite talks to over HTTP. */
export interface Topology {
  name: string;
  /** The GraphQL endpoint, e.g. `http://127.0.0.1:41234/graphql`. */
  graphqlUrl: string;
  /** Base URL of the gateway, e.g. `http://127.0.0.1:41234`. */
  baseUrl: string;
  /** Base URL of the gateway's operations listener (`/metrics`, `/admin/*`), e.g. `http://127.0.0.1:41235`. */
  opsUrl: string;
  /** JWT_SECRET of the deployment (to sign an admin token for `/admin/*`: see helpers/admin.ts). */
  jwtSecret: string;
  /** All process output, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export const ROOT = resolve(import.meta.dir, "../..");
const BUN = process.execPath;

/**
 * Every test process talks from 127.0.0.1, so the per-IP budgets (RATE_LIMIT_IP_MAX, and
 * RATE_LIMIT_AUTH_MAX: 10 registrations/logins a minute) would make whole test files share one
 * budget. Off unless a test's `env` sets them (the rate-limit tests do); the per-account budget
 * (RATE_LIMIT_MAX) keeps its default.
 */
export const PER_IP_LIMITS_OFF: Readonly<Record<string, string>> = { RATE_LIMIT_IP_MAX: "0", RATE_LIMIT_AUTH_MAX: "0" };

/**
 * Settings every end-to-end topology gets unless the test passes its own: end-to-end suites
 * place many unpaid orders from one account (load, faults, subscriptions), so the cap on
 * unpaid orders is lifted; tests/e2e/order-limits.e2e.test.ts runs the documented defaults.
 */
export const E2E_ENV: Readonly<Record<string, string>> = { ORDER_MAX_PENDING: "1000000" };

/** Options shared by the topology starters. */
export interface StartOptions {
  /** Command that runs the binary; default: `bun src/main.ts`. */
  command?: string[];
  env?: Record<string, string>;
  /** Working directory of the process(es). */
  cwd?: string;
}

/** Monolith: one process, MODULES=all, memory bus, SQLite in a temp DATA_DIR. */
export async function startMonolith(opts: StartOptions = {}): Promise<Topology> {
  const dataDir = mkdtempSync(join(tmpdir(), "switchyard-e2e-"));
  const port = await freePort();
  const opsPort = await freePort();
  const env = {
    PORT: String(port),
    OPS_PORT: String(opsPort),
    DATA_DIR: dataDir,
    LOG_LEVEL: "info",
    JWT_SECRET: "e2e-secret-e2e-secret-e2e-secret-0123456789",
    ...PER_IP_LIMITS_OFF,
    ...E2E_ENV,
    ...opts.env,
  };
  const child: Child = spawnChild(opts.command ?? [BUN, join(ROOT, "src/main.ts")], env, opts.cwd);
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitHttpOk(child, `${baseUrl}/health/ready`);
  } catch (err) {
    await child.stop();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    name: "monolith",
    graphqlUrl: `${baseUrl}/graphql`,
    baseUrl,
    opsUrl: `http://127.0.0.1:${env.OPS_PORT}`,
    jwtSecret: env.JWT_SECRET,
    output: child.output,
    async stop() {
      await child.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Modules the split tests run from fixture files (tests/fixtures/extra-module.ts, rogue-module.ts, feed-modules.ts):
 * they get NATS users too (`split.natsEnv(name)`), with the permissions of these contracts.
 */
export const FIXTURE_MODULES = ["extra", "rogue", "feed", "tags"].map((name) => ({
  name,
  subjects: [],
  publishes: [],
  consumes: [],
  dependsOn: [],
}));

/** NATS users of fixture processes that run several fixture modules (tests/fixtures/feed-modules.ts runs feed and tags). */
export const FIXTURE_USERS = [{ user: "feed-modules", parts: ["feed", "tags"] }];

/**
 * Split: gateway + account + catalog + order + payment processes on real NATS, etcd and
 * PostgreSQL. nats-server runs with one user per part and the permissions generated from the
 * contracts, so every split test runs under them.
 */
export async function startSplitTopology(opts: StartOptions = {}): Promise<Topology & { split: SplitTopology }> {
  const split = await startSplit({
    extraModules: FIXTURE_MODULES,
    extraUsers: FIXTURE_USERS,
    ...(opts.command ? { command: opts.command } : {}),
    env: { ...PER_IP_LIMITS_OFF, ...E2E_ENV, ...opts.env },
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  return {
    name: "split",
    graphqlUrl: split.graphqlUrl,
    baseUrl: split.baseUrl,
    opsUrl: split.opsUrl,
    jwtSecret: split.sharedEnv["JWT_SECRET"] as string,
    output: split.output,
    stop: split.stop,
    split,
  };
}

/** Topologies the end-to-end suite runs against, by name. */
export const TOPOLOGIES: Record<string, (opts?: StartOptions) => Promise<Topology>> = {
  monolith: startMonolith,
  split: startSplitTopology,
};

/** Names to run: `E2E_TOPOLOGIES` (comma list) or all known ones. */
export function selectedTopologies(): string[] {
  const env = process.env["E2E_TOPOLOGIES"];
  return env
    ? env
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : Object.keys(TOPOLOGIES);
}
