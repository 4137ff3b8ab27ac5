import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, spawnServer, type ServerProcess } from "../../scripts/devservers/proc.ts";
import { pin, processTree } from "../lib/procstat.ts";
import { runWrk, type WrkResult } from "../lib/wrk.ts";
import { BASE_ENV, PROFILE_DIR, ROOT } from "../targets.ts";

/** Credentials of the first admin the scenarios start the product with (ADMIN_EMAIL/ADMIN_PASSWORD). */
export const ADMIN = { email: "bench-admin@switchyard.example", password: "bench admin password" };
const JWT = "bench-secret-bench-secret-bench-secret-0123456789";

/** Switchyard's own product (every module + gateway, one process) started for a scenario. */
export interface ProductServer {
  url: string;
  server: ServerProcess;
  dataDir: string;
  /** Sends one GraphQL request; returns `data`. @throws with the errors when the answer has any. */
  gql<T>(query: string, variables?: Record<string, unknown>, token?: string): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Starts the product (`bun src/main.ts`, or `cmd` e.g. the compiled binary) with MODULES=all,
 * the bench environment (no response cache, no rate limit), a first admin, `env` on top, and
 * waits until /health/ready answers 200. Pinned to `serverCpus` when given; under Bun's CPU
 * profiler with BENCH_PROFILE=1 (into bench/results/profiles/<profileName>/).
 * @param dataDir DATA_DIR (a new temp dir when undefined; removed by `stop` only then).
 */
export async function startProduct(opts: {
  env?: Record<string, string>;
  dataDir?: string;
  cmd?: string[];
  serverCpus?: string | undefined;
  profileName?: string;
}): Promise<ProductServer> {
  const own = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "switchyard-bench-data-"));
  const port = await freePort();
  // BENCH_PROFILE=1: the product under Bun's CPU profiler too (not a compiled binary).
  const profile =
    process.env["BENCH_PROFILE"] === "1" && !opts.cmd
      ? ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${join(PROFILE_DIR, opts.profileName ?? "product")}`]
      : [];
  const server = spawnServer(opts.cmd ?? [process.execPath, ...profile, join(ROOT, "src/main.ts")], {
    cwd: ROOT,
    env: {
      ...BASE_ENV,
      MODULES: "all",
      PORT: String(port),
      DATA_DIR: dataDir,
      JWT_SECRET: JWT,
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      ...opts.env,
    },
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (server.proc.exitCode !== null) throw new Error(`switchyard exited with ${server.proc.exitCode}:\n${server.output().slice(-3000)}`);
    if (Date.now() > deadline) {
      await server.kill();
      throw new Error(`switchyard not ready within 120 s:\n${server.output().slice(-3000)}`);
    }
    if (
      await fetch(`${base}/health/ready`).then(
        (r) => r.status === 200,
        () => false,
      )
    )
      break;
    await Bun.sleep(50);
  }
  if (opts.serverCpus !== undefined) pin(processTree([server.proc.pid]), opts.serverCpus);
  const url = `${base}/graphql`;
  return {
    url,
    server,
    dataDir,
    async gql<T>(query: string, variables?: Record<string, unknown>, token?: string): Promise<T> {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as { data?: T; errors?: unknown[] };
      if (body.errors?.length || !body.data)
        throw new Error(`GraphQL error (HTTP ${res.status}): ${JSON.stringify(body.errors ?? body).slice(0, 500)}`);
      return body.data;
    },
    async stop() {
      await server.kill();
      if (own) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs graphql.lua against `url`: request bodies in turn from `bodies`, every response must be
 * 200, contain `mustContain` and have no errors.
 * @throws when any response was wrong (the scenario then reports nothing rather than a wrong number).
 */
export async function loadGraphql(o: {
  url: string;
  bodies: readonly string[];
  mustContain: string;
  tokens?: readonly string[];
  connections: number;
  durationS: number;
  loadCpus: string | undefined;
  what: string;
}): Promise<WrkResult> {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-load-"));
  try {
    const file = join(dir, "bodies.jsonl");
    writeFileSync(file, `${o.bodies.join("\n")}\n`);
    // Several callers' tokens are taken in turn (graphql.lua), like many customers' traffic.
    let auth = "-";
    if (o.tokens?.length) {
      const tokensFile = join(dir, "authorizations.txt");
      writeFileSync(tokensFile, `${o.tokens.map((t) => `Bearer ${t}`).join("\n")}\n`);
      auth = `@${tokensFile}`;
    }
    const r = await runWrk({
      url: o.url,
      connections: o.connections,
      durationS: o.durationS,
      script: "graphql.lua",
      scriptArgs: [file, o.mustContain, auth],
      cpus: o.loadCpus,
    });
    if (r.wrong || r.badStatus || r.socketErrors || r.requests === 0)
      throw new Error(`${o.what}: ${r.wrong} wrong, ${r.badStatus} non-200, ${r.socketErrors} socket errors of ${r.requests} requests`);
    return r;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
