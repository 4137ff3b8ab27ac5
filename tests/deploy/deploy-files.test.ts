import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDevelopment, loadConfig, OPTIONS, moduleDbEnv } from "../../src/config.ts";
import { flyToml, imageEnv } from "../helpers/deploy-env.ts";
import { ROOT } from "../helpers/topology.ts";
import { MODULES } from "../../src/module-list.ts";

const parts = [...Object.keys(MODULES), "gateway"];
const fly = flyToml();
const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
const deployDoc = readFileSync(join(ROOT, "docs/deploy-fly.md"), "utf8");
const knownEnv = new Set([...OPTIONS.map((o) => o.env), ...parts.filter((p) => p !== "gateway").map(moduleDbEnv)]);

/** Splits a process command like `switchyard --modules gateway` into argv after the binary. */
function argsOf(cmd: string): string[] {
  const [bin, ...args] = cmd.trim().split(/\s+/);
  expect(bin).toBe("switchyard");
  return args;
}

describe("fly.toml agrees with the binary", () => {
  test("a process per part, each a valid invocation running exactly that part", () => {
    expect(Object.keys(fly.processes).sort()).toEqual([...parts].sort());
    for (const [name, cmd] of Object.entries(fly.processes)) {
      const r = loadConfig(argsOf(cmd), { ...fly.env, JWT_SECRET: "x".repeat(40) }, { parts });
      if (r.help) throw new Error("help");
      expect(r.config.modules).toEqual([name]);
      expect(r.config.bus.kind).toBe("nats");
      expect(r.config.registry.kind).toBe("etcd");
      expect(r.config.port).toBe(fly.http_service.internal_port);
    }
  });

  test("the gateway keys its per-IP limits by Fly-Client-IP (TRUST_PROXY): behind Fly's proxy the peer is the proxy", () => {
    const r = loadConfig(argsOf(fly.processes["gateway"] ?? ""), { ...fly.env, JWT_SECRET: "x".repeat(40) }, { parts });
    if (r.help) throw new Error("help");
    expect(r.config.trustProxy).toBe(true);
  });

  test("release_command runs migrations with a valid invocation", () => {
    const args = argsOf(fly.deploy.release_command);
    expect(args).toContain("--migrate");
    expect(() =>
      loadConfig(
        args.filter((a) => a !== "--migrate"),
        fly.env,
        { parts },
      ),
    ).not.toThrow();
  });

  test("only the gateway is public, with readiness checks; modules have liveness checks", () => {
    expect(fly.http_service.processes).toEqual(["gateway"]);
    expect(fly.http_service.checks.map((c) => c.path)).toEqual(["/health/ready"]);
    const live = Object.values(fly.checks);
    expect(live.flatMap((c) => c.processes).sort()).toEqual(Object.keys(MODULES).sort());
    for (const c of live) expect(c.path).toBe("/health/live");
  });

  test("production mode; Fly's [metrics] scrapes the operations listener (OPS_PORT), not the public port", () => {
    expect(fly.env["NODE_ENV"]).toBe("production");
    const opsPort = Number(fly.env["OPS_PORT"]);
    expect(fly.metrics).toEqual({ port: opsPort, path: "/metrics" });
    expect(opsPort).not.toBe(fly.http_service.internal_port);
    for (const cmd of Object.values(fly.processes)) {
      const r = loadConfig(argsOf(cmd), { ...fly.env, JWT_SECRET: "x".repeat(40) }, { parts });
      if (r.help) throw new Error("help");
      expect(isDevelopment(r.config)).toBe(false);
      expect(r.config).toMatchObject({
        graphiql: false,
        introspection: false,
        subgraphTimings: false,
        opsPort,
        opsHost: fly.env["OPS_HOST"],
      });
      // Not the public interface: Fly's private network address of the machine.
      expect(r.config.opsHost).not.toBe(r.config.host);
    }
    expect(deployDoc).toContain("OPS_PORT");
  });

  test("every env var is a known option; required secrets are documented", () => {
    for (const key of Object.keys(fly.env)) expect(knownEnv.has(key)).toBe(true);
    for (const secret of ["JWT_SECRET", "DATABASE_URL"]) {
      expect(fly.env[secret]).toBeUndefined();
      expect(deployDoc).toContain(secret);
    }
    expect(deployDoc).toContain("fly scale count catalog=3");
  });
});

describe("Dockerfile", () => {
  const stages = dockerfile
    .split(/^FROM /m)
    .slice(1)
    .map((s) => `FROM ${s}`);
  const run = (stage: string) => [...stage.matchAll(/^RUN (.+(?:\\\n.+)*)$/gm)].map((m) => (m[1] ?? "").replace(/\\\n\s*/g, " "));

  test("multi-stage on the official Bun image, non-root, health check, MODULES by env", () => {
    expect(stages.length).toBe(3);
    expect(dockerfile).toMatch(/^FROM oven\/bun:[\d.]+ AS build$/m);
    expect(dockerfile).toMatch(/^USER switchyard$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n?.*--probe/m);
    expect(imageEnv()["MODULES"]).toBe("all");
    expect(dockerfile).toMatch(/^CMD \["switchyard"\]$/m);
    expect(dockerfile).toContain(`EXPOSE ${fly.http_service.internal_port}`);
    expect(dockerfile).toContain(`PORT=${fly.http_service.internal_port}`);
    // Production stated in the image itself; the operations listener on the port Fly scrapes.
    expect(imageEnv()).toMatchObject({ NODE_ENV: "production", OPS_PORT: String(fly.metrics?.port) });
  });

  test("the Bun image tag is the Bun version the lockfile pins", () => {
    const tag = /FROM oven\/bun:([\d.]+)/.exec(dockerfile)?.[1];
    const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, { version?: string }> };
    expect(tag).toBe(lock.packages["node_modules/bun"]?.version);
  });

  // The build commands, run outside Docker: each stage's WORKDIR maps to a temp dir, COPY
  // copies from the repo (or an earlier stage), RUN runs in sh. Only the deps and build stages
  // run (the runtime stage's RUN creates a system user).
  const work = mkdtempSync(join(tmpdir(), "switchyard-docker-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  test("its deps and build stages, run outside Docker, produce a working binary", async () => {
    const stageDirs = new Map<string, string>();
    for (const stage of stages.slice(0, 2)) {
      const name = /^FROM \S+ AS (\S+)/.exec(stage)?.[1] ?? "stage";
      const root = join(work, name);
      mkdirSync(root, { recursive: true });
      let wd = root;
      for (const line of stage.split("\n")) {
        const workdir = /^WORKDIR (\S+)/.exec(line);
        if (workdir) mkdirSync((wd = join(root, workdir[1] ?? "")), { recursive: true });
        const copy = /^COPY (?:--from=(\S+) )?(.+) (\S+)$/.exec(line);
        if (copy) {
          const [, from, srcs, dest] = copy;
          const dst = join(wd, dest ?? ".");
          for (const src of (srcs ?? "").split(/\s+/)) {
            const origin = from ? join(stageDirs.get(from) ?? "", src) : join(ROOT, src);
            const target = dest === "." || (dest?.endsWith("/") && !src.includes("/")) ? join(dst, src.replace(/^.*\//, "")) : dst;
            expect(existsSync(origin)).toBe(true);
            cpSync(origin, target, { recursive: true });
          }
        }
      }
      for (const cmd of run(stage)) {
        const p = Bun.spawn(["sh", "-c", cmd], {
          cwd: wd,
          env: { ...process.env, PATH: `${join(ROOT, "node_modules/.bin")}:${process.env["PATH"] ?? ""}` },
          stdout: "pipe",
          stderr: "pipe",
        });
        const code = await p.exited;
        if (code !== 0) throw new Error(`RUN ${cmd} failed (${code}):\n${await new Response(p.stderr).text()}`);
      }
      stageDirs.set(name, root);
    }
    const bin = join(stageDirs.get("build") ?? "", "src/dist/switchyard");
    expect(existsSync(bin)).toBe(true);
    const help = Bun.spawn([bin, "--help"], { cwd: tmpdir(), stdout: "pipe" });
    expect(await help.exited).toBe(0);
    expect(await new Response(help.stdout).text()).toContain("REGISTRY");
  }, 300_000);
});
