import { describe, expect, test } from "bun:test";
import { ConfigError, helpText, loadConfig } from "../../src/config.ts";

/** ADMIN_EMAIL / ADMIN_PASSWORD: the first admin account (created by the account module at start). */

const parts = ["account", "catalog", "order", "gateway"];
const load = (argv: string[], env: Record<string, string> = {}) => {
  const r = loadConfig(argv, env, { parts });
  if (r.help) throw new Error("unexpected help");
  return r.config;
};
const failure = (env: Record<string, string>): string => {
  try {
    load([], env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
};

describe("config: first admin", () => {
  test("unset by default", () => {
    const c = load([]);
    expect(c.adminEmail).toBeUndefined();
    expect(c.adminPassword).toBeUndefined();
  });

  test("both set: the e-mail is normalised (trimmed, lower case); flags work too", () => {
    const c = load([], { ADMIN_EMAIL: "  Root@Example.COM ", ADMIN_PASSWORD: "12345678" });
    expect(c.adminEmail).toBe("root@example.com");
    expect(c.adminPassword).toBe("12345678");
    const f = load(["--admin-email", "a@b.io", "--admin-password=long enough"]);
    expect([f.adminEmail, f.adminPassword]).toEqual(["a@b.io", "long enough"]);
  });

  test("a malformed e-mail or a short password names the variable", () => {
    expect(failure({ ADMIN_EMAIL: "not-an-email", ADMIN_PASSWORD: "12345678" })).toMatch(
      /^ADMIN_EMAIL: invalid value "not-an-email"; allowed: an e-mail address/,
    );
    expect(failure({ ADMIN_EMAIL: "a@b.io", ADMIN_PASSWORD: "1234567" })).toMatch(/^ADMIN_PASSWORD: invalid value .*at least 8 characters/);
  });

  test("one without the other is refused", () => {
    expect(failure({ ADMIN_EMAIL: "a@b.io" })).toMatch(/ADMIN_EMAIL and ADMIN_PASSWORD: set both/);
    expect(failure({ ADMIN_PASSWORD: "12345678" })).toMatch(/ADMIN_EMAIL and ADMIN_PASSWORD: set both/);
  });

  test("--help lists both", () => {
    const h = helpText({ parts });
    expect(h).toContain("ADMIN_EMAIL");
    expect(h).toContain("ADMIN_PASSWORD");
  });
});
