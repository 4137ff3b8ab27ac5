/**
 * Options owned by their users: each module's and the gateway's options are declared next to
 * their code, parsed with the kernel's by one loader, listed by --help, handed to the module as
 * typed `ctx.options`, and the tests' config is derived from the same declarations.
 */
import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { ConfigError, helpText, loadConfig, OPTION_SETS, OPTIONS } from "../../src/config.ts";
import { declaredOptions, defaultsOf, defineOptions, int, kernelOptions, option } from "../../src/kernel/config.ts";
import type { Kernel } from "../../src/kernel/kernel.ts";
import type { ModuleContext, ModuleDefinition } from "../../src/kernel/module.ts";
import { MODULE_OPTIONS, MODULES } from "../../src/module-list.ts";
import { startModules, TEST_ENV, type TestConfig, testConfig } from "../helpers/modules.ts";

const load = (env: Record<string, string>, argv: string[] = []) => {
  const r = loadConfig(argv, env);
  if (r.help) throw new Error("unexpected help");
  return r.config;
};
const failure = (env: Record<string, string>): string => {
  try {
    load(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
};

describe("module options", () => {
  test("a module's option parses from its variable or flag, with its default", () => {
    expect(load({}).orderMaxLines).toBe(50);
    expect(load({ ORDER_MAX_LINES: "7" }).orderMaxLines).toBe(7);
    expect(load({ ORDER_MAX_LINES: "7" }, ["--order-max-lines=9"]).orderMaxLines).toBe(9);
    expect(load({ ORDER_MAX_LINES: "" }).orderMaxLines).toBe(50);
    expect(load({ PAYMENT_PROVIDER_LATENCY_MS: "0" }).paymentProviderLatencyMs).toBe(0);
    expect(load({ SEED: "off" }).seed).toBe(false);
  });

  test("a bad value is one line naming the variable and what is allowed, also for a module this process does not run", () => {
    const msg = failure({ MODULES: "catalog", ORDER_MAX_LINES: "0" });
    expect(msg).toBe('ORDER_MAX_LINES: invalid value "0"; allowed: an integer from 1 to 100');
    expect(failure({ PAYMENT_PROVIDER_TIMEOUT_MS: "fast" })).toBe(
      'PAYMENT_PROVIDER_TIMEOUT_MS: invalid value "fast"; allowed: an integer from 10 to 120000',
    );
    expect(failure({ MODULES: "gateway", SEED: "maybe" })).toBe('SEED: invalid value "maybe"; allowed: true or false');
  });

  test("--help lists the gateway's and every module's options under their owner", () => {
    const text = helpText();
    for (const env of ["ORDER_MAX_LINES", "PAYMENT_PROVIDER_LATENCY_MS", "ADMIN_EMAIL", "SEED", "MAX_DEPTH", "JWT_TTL_S"]) {
      expect(text).toContain(env);
    }
    expect(text).toContain("--order-max-pending");
    expect(text).toMatch(/\norder:\n/);
    expect(text.indexOf("\norder:\n")).toBeLessThan(text.indexOf("ORDER_MAX_LINES"));
    expect(text).toMatch(/\ngateway:\n/);
  });

  test("each module's definition carries the option set the binary loads for it", () => {
    expect(Object.keys(MODULE_OPTIONS).sort()).toEqual(Object.keys(MODULES).sort());
    for (const [name, register] of Object.entries(MODULES)) {
      const defs: ModuleDefinition[] = [];
      register({ addModule: (d: ModuleDefinition) => defs.push(d) } as unknown as Kernel);
      expect(defs.map((d) => d.name)).toEqual([name]);
      expect(defs[0]?.options).toBe(MODULE_OPTIONS[name as keyof typeof MODULE_OPTIONS]);
    }
  });
});

describe("defaultsOf", () => {
  test("a set's declared defaults, parsed: what a module uses when a caller passes none", () => {
    expect(defaultsOf(MODULE_OPTIONS.order)).toMatchObject({ orderMaxLines: 50, orderMaxPending: 3, orderPaymentTimeoutS: 600 });
    // toMatchObject: a new account option must not need an edit here (adding one is one declaration).
    expect(defaultsOf(MODULE_OPTIONS.account)).toMatchObject({
      jwtTtlS: 900,
      refreshTokenTtlS: 2_592_000,
      adminEmail: undefined,
      adminPassword: undefined,
    });
  });
});

describe("declarations", () => {
  test("two owners declaring the same variable, flag or key are refused; one shared declaration is one option", () => {
    const a = defineOptions("a", { widgets: option(int(1, 9), { env: "WIDGETS", default: "1", allowed: "1-9", describe: "." }) });
    const b = defineOptions("b", { gadgets: option(int(1, 9), { env: "WIDGETS", default: "1", allowed: "1-9", describe: "." }) });
    const c = defineOptions("c", { port: option(int(1, 9), { env: "C_PORT", default: "1", allowed: "1-9", describe: "." }) });
    expect(() => declaredOptions([a, b])).toThrow(/WIDGETS is declared by both a and b/);
    expect(() => declaredOptions([kernelOptions, c])).toThrow(/key port is declared by both kernel and c/);
    const shared = defineOptions("d", { widgets: a.schema.shape.widgets });
    expect(declaredOptions([a, shared]).map((o) => [o.meta.env, o.owners])).toEqual([["WIDGETS", ["a", "d"]]]);
    // The binary's own sets: PAYMENT_PROVIDER_TIMEOUT_MS is the payment module's, read by the order module too.
    expect(OPTIONS.find((o) => o.env === "PAYMENT_PROVIDER_TIMEOUT_MS")?.owner).toBe("order, payment");
    expect(() => declaredOptions([kernelOptions, ...OPTION_SETS])).not.toThrow();
  });
});

describe("testConfig", () => {
  test("is the declared defaults with TEST_ENV on top: every option present, nothing copied by hand", () => {
    const c = testConfig({ orderMaxLines: 7 }) as unknown as Record<string, unknown>;
    const defaults = load({}) as unknown as Record<string, unknown>;
    const asTested = load({ ...TEST_ENV }) as unknown as Record<string, unknown>;
    rmSync(String(c["dataDir"]), { recursive: true, force: true });
    expect(c["orderMaxLines"]).toBe(7);
    for (const o of OPTIONS) {
      const key = o.key.split(".")[0] as string;
      expect(Object.hasOwn(c, key), `testConfig lacks ${o.key}`).toBe(true);
      if (key === "modules" || key === "dataDir" || key === "orderMaxLines") continue;
      expect(c[key], key).toEqual(asTested[key]);
      const group = key !== o.key; // nats.*: one env per field
      // Not set for tests and not derived from another option: the production default.
      if (!group && !(o.env in TEST_ENV) && !o.whenEmpty) expect(c[key], key).toEqual(defaults[key]);
    }
    expect([c["modules"], c["logLevel"], c["orderMaxPending"], c["paymentProviderLatencyMs"]]).toEqual([[], "silent", 10_000, 0]);
  });
});

describe("ctx.options", () => {
  test("a module gets its own options, typed, from the config; options missing there take their defaults", async () => {
    const seen: unknown[] = [];
    const widgetOptions = defineOptions("widgets", {
      widgetsMax: option(int(1, 99), { env: "WIDGETS_MAX", default: "12", allowed: "1-99", describe: "Most widgets." }),
    });
    const widgets: ModuleDefinition<{ widgetsMax: number }> = {
      name: "widgets",
      version: "0.0.1",
      options: widgetOptions,
      dependsOn: [],
      typeDefs: `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Query { widgetCount: Int }`,
      subjects: [],
      publishes: [],
      consumes: [],
      async start(ctx: ModuleContext<{ widgetsMax: number }>) {
        const max: number = ctx.options.widgetsMax;
        seen.push(max, ctx.options);
        return { resolvers: { Query: { widgetCount: () => max } } };
      },
    };
    const h = await startModules([widgets]);
    try {
      // Not in testConfig (the module is not in the module list): the declared default.
      expect(seen).toEqual([12, { widgetsMax: 12 }]);
      expect((await h.query<{ widgetCount: number }>("widgets", "{ widgetCount }")).data?.widgetCount).toBe(12);
    } finally {
      await h.stop();
    }
    seen.length = 0;
    // Set in the config (as the loader would, had the binary's sets included it): that value.
    const h2 = await startModules([widgets], { widgetsMax: 5 } as Partial<TestConfig>);
    await h2.stop();
    expect(seen).toEqual([5, { widgetsMax: 5 }]);
  });
});
