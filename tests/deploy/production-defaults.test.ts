/** Production by default: config defaults, the JWT secret rule and the admin-token check, as units and through `src/main.ts`. */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, isDevelopment, loadConfig } from "../../src/config.ts";
import { resolveJwtSecret } from "../../src/kernel/secrets.ts";
import { checkAdminToken } from "../../src/kernel/auth/admin-token.ts";
import { signToken } from "../../src/kernel/auth/jwt.ts";
import { ROOT } from "../helpers/topology.ts";
import { MODULES } from "../../src/module-list.ts";

const parts = [...Object.keys(MODULES), "gateway"];
const load = (env: Record<string, string>) => {
  const r = loadConfig([], env, { parts });
  if (r.help) throw new Error("help");
  return r.config;
};
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "switchyard-defaults-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("defaults", () => {
  test("NODE_ENV unset is production: every development aid off, operations listener on loopback 9091", () => {
    const c = load({});
    expect(c.nodeEnv).toBe("production");
    expect(isDevelopment(c)).toBe(false);
    expect(c).toMatchObject({ graphiql: false, introspection: false, subgraphTimings: false, opsPort: 9091, opsHost: "127.0.0.1" });
  });

  test("only NODE_ENV=development turns them on", () => {
    expect(load({ NODE_ENV: "development" })).toMatchObject({ graphiql: true, introspection: true, subgraphTimings: true });
    for (const env of ["production", "test", "staging"]) expect(isDevelopment(load({ NODE_ENV: env }))).toBe(false);
  });

  test("OPS_PORT / OPS_HOST are validated", () => {
    expect(load({ OPS_PORT: "0", OPS_HOST: "fly-local-6pn" })).toMatchObject({ opsPort: 0, opsHost: "fly-local-6pn" });
    expect(() => load({ OPS_PORT: "70000" })).toThrow(/^OPS_PORT: invalid value "70000"/);
    expect(() => load({ OPS_HOST: "a b" })).toThrow(ConfigError);
  });
});

describe("JWT secret", () => {
  const base = (env: Record<string, string>) => ({ ...load(env), dataDir: tmp() });

  test("configured: used as is", () => {
    expect(resolveJwtSecret(base({ JWT_SECRET: "s".repeat(40) }))).toEqual({ secret: "s".repeat(40), source: "configured" });
  });

  test("production (default), test or any non-development: refused with a one-line ConfigError", () => {
    for (const env of [{}, { NODE_ENV: "production" }, { NODE_ENV: "test" }] as Record<string, string>[]) {
      const c = base(env);
      expect(() => resolveJwtSecret(c)).toThrow(ConfigError);
      expect(() => resolveJwtSecret(c)).toThrow(/^JWT_SECRET: must be set in production/);
      expect(existsSync(join(c.dataDir, "jwt-secret"))).toBe(false);
    }
  });

  test("development: generated once into DATA_DIR, then reused", () => {
    const c = base({ NODE_ENV: "development" });
    const first = resolveJwtSecret(c);
    expect(first.source).toBe("generated");
    expect(resolveJwtSecret(c)).toEqual({ secret: first.secret, source: "dev-file" });
  });

  test("split mode needs a shared secret even in development; --migrate needs none", () => {
    expect(() => resolveJwtSecret(base({ NODE_ENV: "development", BUS: "nats://127.0.0.1:4222" }))).toThrow(/when BUS is not memory/);
    expect(resolveJwtSecret(base({}), { migrateOnly: true }).source).toBe("migrate-only");
  });

  test("src/main.ts without JWT_SECRET and NODE_ENV exits 2 with one line; with NODE_ENV=development it would start", async () => {
    const { NODE_ENV: _n, JWT_SECRET: _s, ...env } = process.env;
    const p = Bun.spawn([process.execPath, join(ROOT, "src/main.ts")], {
      env: { ...env, DATA_DIR: tmp(), PORT: "0", OPS_PORT: "0" },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await p.exited).toBe(2);
    const err = (await new Response(p.stderr).text()).trim().split("\n");
    expect(err).toEqual([
      "switchyard: configuration error: JWT_SECRET: must be set in production (NODE_ENV=production); a generated secret is used only with NODE_ENV=development",
    ]);
  });
});

describe("admin token", () => {
  const secret = "admin-secret-admin-secret-admin-secret-0123";
  test("none or malformed: 401; bad signature: 401; no admin role: 403; admin: allowed", async () => {
    expect(await checkAdminToken(undefined, secret)).toMatchObject({ status: 401, code: "UNAUTHENTICATED" });
    expect(await checkAdminToken("Bearer", secret)).toMatchObject({ status: 401, code: "UNAUTHENTICATED" });
    expect(await checkAdminToken("Bearer not.a.jwt", secret)).toMatchObject({ status: 401, code: "UNAUTHENTICATED" });
    const other = await signToken("x".repeat(40), { accountId: "a", roles: ["admin"] }, 60);
    expect(await checkAdminToken(`Bearer ${other}`, secret)).toMatchObject({ status: 401, code: "UNAUTHENTICATED" });
    const customer = await signToken(secret, { accountId: "c", roles: ["customer"] }, 60);
    expect(await checkAdminToken(`Bearer ${customer}`, secret)).toMatchObject({ status: 403, code: "FORBIDDEN" });
    const admin = await signToken(secret, { accountId: "a", roles: ["customer", "admin"] }, 60);
    expect(await checkAdminToken(`Bearer ${admin}`, secret)).toBeUndefined();
    // A further identity check (the gateway's session guard) has the last word, only for admins.
    const seen: string[] = [];
    const check = async (id: { accountId: string }) => (
      seen.push(id.accountId), { status: 401 as const, code: "UNAUTHENTICATED" as const, message: "account disabled" }
    );
    expect(await checkAdminToken(`Bearer ${admin}`, secret, check)).toEqual({
      status: 401,
      code: "UNAUTHENTICATED",
      message: "account disabled",
    });
    expect(await checkAdminToken(`Bearer ${customer}`, secret, check)).toMatchObject({ status: 403 });
    expect(seen).toEqual(["a"]);
  });
});
