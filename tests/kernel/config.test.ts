import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ConfigError, helpText, loadConfig, OPTIONS } from "../../src/config.ts";
import { ROOT } from "../helpers/topology.ts";

const parts = ["account", "catalog", "order", "gateway"];
const load = (argv: string[], env: Record<string, string> = {}) => {
  const r = loadConfig(argv, env, { parts });
  if (r.help) throw new Error("unexpected help");
  return r.config;
};

describe("config", () => {
  test("defaults", () => {
    const c = load([]);
    expect(c.modules).toEqual(parts);
    expect(c.port).toBe(4000);
    expect(c.host).toBe("127.0.0.1");
    expect(c.dataDir).toBe("./data");
    expect(c.jwtSecret).toBeUndefined();
    expect(c.logLevel).toBe("info");
    expect(c.seed).toBe(true);
  });

  test("env vars, and flags override env", () => {
    const c = load(["--port", "5001", "--log-level=debug"], {
      PORT: "5000",
      MODULES: "catalog,gateway",
      DATA_DIR: "/tmp/x",
      LOG_LEVEL: "warn",
    });
    expect(c.port).toBe(5001);
    expect(c.modules).toEqual(["catalog", "gateway"]);
    expect(c.dataDir).toBe("/tmp/x");
    expect(c.logLevel).toBe("debug");
  });

  test.each([
    [{ PORT: "abc" }, /^PORT: invalid value "abc"; allowed: an integer from 0 to 65535$/],
    [{ PORT: "70000" }, /^PORT: invalid value "70000"/],
    [{ MODULES: "catalog,billing" }, /^MODULES: invalid value "catalog,billing"; allowed: .*unknown "billing"$/],
    [{ LOG_LEVEL: "loud" }, /^LOG_LEVEL: invalid value "loud"; allowed: trace \| debug/],
    [{ JWT_SECRET: "short" }, /^JWT_SECRET: invalid value "short"; allowed: at least 32 characters$/],
    [{ SEED: "maybe" }, /^SEED: invalid value "maybe"; allowed: true or false$/],
  ])("bad value %p → one clear line naming the variable", (env, re) => {
    expect(() => load([], env as Record<string, string>)).toThrow(ConfigError);
    try {
      load([], env as Record<string, string>);
    } catch (err) {
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).not.toContain("\n");
    }
  });

  test("MODULES=all minus exclusions: every part but the excluded ones, in declaration order", () => {
    expect(load([], { MODULES: "all,-catalog" }).modules).toEqual(["account", "order", "gateway"]);
    expect(load([], { MODULES: " all , -catalog,-gateway,-catalog" }).modules).toEqual(["account", "order"]);
    expect(load(["--modules", "all,-order"]).modules).toEqual(["account", "catalog", "gateway"]);
  });

  test.each([
    ["all,-billing", /^MODULES: invalid value "all,-billing"; allowed: .*unknown "billing"$/],
    ["catalog,-order", /excludes only from "all"$/],
    ["-catalog", /excludes only from "all"$/],
    ["all,catalog", /"all" already names every part$/],
    ["all,-account,-catalog,-order,-gateway", /every part excluded$/],
  ])("MODULES=%p is a configuration error", (value, re) => {
    expect(() => load([], { MODULES: value })).toThrow(ConfigError);
    expect(() => load([], { MODULES: value })).toThrow(re);
  });

  test("unknown flag and missing flag value", () => {
    expect(() => load(["--nope"])).toThrow(/unknown option --nope/);
    expect(() => load(["--port"])).toThrow(/--port needs a value/);
  });

  test("--help lists every option with its env var and default", () => {
    expect(loadConfig(["--help"], {}, { parts })).toEqual({ help: true });
    const text = helpText({ parts });
    for (const o of OPTIONS) {
      expect(text).toContain(o.env);
      if (o.flag !== undefined) expect(text).toContain(o.flag);
    }
  });

  test("the binary exits 2 with one line on a bad value, and prints --help", async () => {
    const bad = Bun.spawn([process.execPath, join(ROOT, "src/main.ts")], {
      env: { ...process.env, PORT: "nope" },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await bad.exited).toBe(2);
    const err = await new Response(bad.stderr).text();
    expect(err.trim().split("\n")).toHaveLength(1);
    expect(err).toContain('PORT: invalid value "nope"');

    const help = Bun.spawn([process.execPath, join(ROOT, "src/main.ts"), "--help"], { stdout: "pipe", stderr: "pipe" });
    expect(await help.exited).toBe(0);
    const out = await new Response(help.stdout).text();
    expect(out).toContain("MODULES");
    expect(out).toContain("JWT_SECRET");
    // Module and gateway options too, though declared outside the kernel.
    for (const env of ["ORDER_MAX_LINES", "PAYMENT_PROVIDER_LATENCY_MS", "ADMIN_EMAIL", "SEED", "MAX_DEPTH"]) expect(out).toContain(env);
  });
});
