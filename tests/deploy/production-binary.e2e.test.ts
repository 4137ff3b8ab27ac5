/**
 * The compiled binary with exactly the environment the shipped Dockerfile and fly.toml give it
 * (plus only the required secret JWT_SECRET, a temp DATA_DIR, and free ports on 127.0.0.1 instead
 * of the container's interfaces): it runs in production mode. Introspection is refused, a browser
 * gets no GraphiQL, an unexpected error is masked and carries the request id, the operations
 * endpoints are not on the public port, and the startup log says production. Without JWT_SECRET
 * it refuses to start instead of generating a secret.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildTestBinary } from "../helpers/binary.ts";
import { flyToml, imageEnv } from "../helpers/deploy-env.ts";
import { freePort } from "../helpers/ports.ts";
import { spawnChild, type Child } from "../helpers/process.ts";
import { REGISTER } from "../e2e/flows.ts";
import { eventually, GiveUp } from "../helpers/eventually.ts";

const SECRET = "prod-binary-secret-prod-binary-secret-0123456789";

/** fly.toml's monolith variant, as its header describes it: [env] without the split mode's BUS/REGISTRY. */
function flyMonolithEnv(): Record<string, string> {
  const { BUS: _bus, REGISTRY: _registry, ...env } = flyToml().env;
  return env;
}

/** Deployment environments under test: what `docker run <image>` gives, and the image on Fly. */
const ENVIRONMENTS: Record<string, () => Record<string, string>> = {
  Dockerfile: () => imageEnv(),
  "Dockerfile + fly.toml [env]": () => ({ ...imageEnv(), ...flyMonolithEnv() }),
};

interface Running {
  proc: Child["proc"];
  output(): string;
  url: string;
  opsUrl: string;
  dataDir: string;
}

/** Spawns `bin` with `env` only (no variable of this test process leaks in, NODE_ENV included). */
const spawnExact = (bin: string, env: Record<string, string>, cwd: string): Child => spawnChild([bin], env, cwd, { inheritEnv: false });

let dir: string;
let bin: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "switchyard-prod-bin-"));
  bin = await buildTestBinary(dir);
}, 240_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("both files state NODE_ENV=production and an OPS_PORT explicitly", () => {
  expect(imageEnv()["NODE_ENV"]).toBe("production");
  expect(flyToml().env["NODE_ENV"]).toBe("production");
  expect(imageEnv()["OPS_PORT"]).toBeDefined();
});

for (const [label, base] of Object.entries(ENVIRONMENTS)) {
  describe(`compiled binary with the environment of ${label}`, () => {
    let r: Running;
    beforeAll(async () => {
      const dataDir = mkdtempSync(join(dir, "data-"));
      const [port, opsPort] = [await freePort(), await freePort()];
      const env = {
        ...base(),
        JWT_SECRET: SECRET,
        DATA_DIR: dataDir,
        HOST: "127.0.0.1",
        PORT: String(port),
        OPS_HOST: "127.0.0.1",
        OPS_PORT: String(opsPort),
      };
      const p = spawnExact(bin, env, dir);
      const url = `http://127.0.0.1:${port}/graphql`;
      r = { ...p, url, opsUrl: `http://127.0.0.1:${opsPort}`, dataDir };
      await eventually(
        "binary ready",
        async () => {
          if (p.proc.exitCode !== null) throw new GiveUp(`exited ${p.proc.exitCode}: ${p.output()}`);
          return (await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => null))?.status === 200;
        },
        { timeoutMs: 60_000, intervalMs: 50 },
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${p.output().slice(-3000)}`);
      });
    }, 90_000);
    afterAll(async () => {
      r?.proc.kill("SIGTERM");
      await r?.proc.exited;
    });

    const post = async (body: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(r.url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/graphql-response+json", ...headers },
        body: JSON.stringify(body),
      });
      return {
        res,
        json: (await res.json()) as {
          data?: unknown;
          errors?: { message: string; extensions?: Record<string, unknown> }[];
          extensions?: Record<string, unknown>;
        },
      };
    };

    test("the startup log says production", async () => {
      await eventually("started line", () => r.output().includes("switchyard started"), { timeoutMs: 10_000, intervalMs: 50 });
      const line = r
        .output()
        .split("\n")
        .find((l) => l.includes('"msg":"switchyard started'));
      const started = JSON.parse(line ?? "{}") as { mode?: string; msg?: string };
      expect(started.mode).toBe("production");
      expect(started.msg).toContain("production mode");
      expect(r.output()).not.toContain("development secret");
    });

    test("introspection is refused (INTROSPECTION_DISABLED)", async () => {
      const { json } = await post({ query: "{ __schema { queryType { name } } }" });
      expect(json.errors?.map((e) => e.extensions?.["code"])).toContain("INTROSPECTION_DISABLED");
      expect(JSON.stringify(json)).not.toContain('"queryType":{');
    });

    test("a browser asking for GET /graphql gets no GraphiQL", async () => {
      const res = await fetch(r.url, {
        headers: { accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "user-agent": "Mozilla/5.0" },
      });
      const body = await res.text();
      expect(res.headers.get("content-type") ?? "").not.toContain("text/html");
      expect(body).not.toMatch(/graphiql/i);
    });

    test("no subgraph timings on request", async () => {
      const { json } = await post({ query: "{ categories { name } }" }, { "x-switchyard-trace": "1" });
      expect(json.errors).toBeUndefined();
      expect(json.extensions?.["subgraphTimings"]).toBeUndefined();
    });

    test("an unexpected error (the account database is locked) is masked and carries the request id", async () => {
      // Another connection holds SQLite's write lock: the registration's INSERT fails after
      // busy_timeout with SQLITE_BUSY, an error no code was given to.
      const db = new Database(join(r.dataDir, "account.sqlite"));
      db.exec("PRAGMA busy_timeout = 0");
      db.exec("BEGIN IMMEDIATE");
      try {
        const { res, json } = await post(
          {
            query: REGISTER,
            variables: { input: { name: "Locked Out", email: `locked-${Date.now()}@example.com`, password: "password-123" } },
          },
          { "x-request-id": "prod-masked-1" },
        );
        expect(res.headers.get("x-request-id")).toBe("prod-masked-1");
        const err = json.errors?.[0];
        expect(err?.extensions?.["code"]).toBe("INTERNAL_SERVER_ERROR");
        expect(err?.extensions?.["requestId"]).toBe("prod-masked-1");
        expect(err?.message).toBe("internal error (request prod-masked-1)");
        const text = JSON.stringify(json);
        for (const leak of ["locked", "SQLITE", "stack", "originalError", "busy"]) expect(text).not.toContain(leak);
      } finally {
        db.exec("ROLLBACK");
        db.close();
      }
      // ...and the original is in the log, under the same request id.
      expect(r.output()).toContain("prod-masked-1");
    }, 30_000);

    test("operations endpoints are not on the public port; /admin/* needs an admin token", async () => {
      const base = r.url.replace("/graphql", "");
      for (const path of ["/metrics", "/admin/health", "/admin/supergraph"]) expect((await fetch(base + path)).status).toBe(404);
      expect((await fetch(`${r.opsUrl}/metrics`)).status).toBe(200);
      const sdl = await fetch(`${r.opsUrl}/admin/supergraph`);
      expect(sdl.status).toBe(401);
      expect(await sdl.text()).not.toContain("type Query");
      expect(r.output()).toContain(`ops endpoints on ${r.opsUrl}`);
    });
  });
}

describe("without JWT_SECRET", () => {
  for (const [label, base] of Object.entries(ENVIRONMENTS)) {
    test(`the binary with the environment of ${label} refuses to start: exit 2, one line`, async () => {
      const dataDir = mkdtempSync(join(dir, "nosecret-"));
      const p = spawnExact(
        bin,
        {
          ...base(),
          DATA_DIR: dataDir,
          HOST: "127.0.0.1",
          PORT: String(await freePort()),
          OPS_HOST: "127.0.0.1",
          OPS_PORT: String(await freePort()),
        },
        dir,
      );
      const timer = setTimeout(() => p.proc.kill("SIGKILL"), 20_000);
      const code = await p.proc.exited;
      clearTimeout(timer);
      await p.ended();
      expect(code).toBe(2);
      const lines = p.output().trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^switchyard: configuration error: JWT_SECRET: must be set in production/);
    }, 30_000);
  }
});
