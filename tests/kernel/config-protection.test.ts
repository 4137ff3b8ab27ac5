import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "../../src/config.ts";

const load = (env: Record<string, string> = {}, argv: string[] = []) => {
  const r = loadConfig(argv, env, { parts: ["account", "catalog", "order", "gateway"] });
  if (r.help) throw new Error("unexpected help");
  return r.config;
};

describe("protection options", () => {
  test("defaults (production)", () => {
    const c = load();
    expect(c.graphiql).toBe(false);
    expect(c.introspection).toBe(false);
    expect([c.maxDepth, c.maxAliases, c.maxTokens, c.maxDirectives, c.maxCost]).toEqual([12, 30, 2000, 50, 5000]);
    expect(c.maxBodyBytes).toBe(1_048_576);
    expect(c.corsOrigins).toEqual([]);
    expect(c.trustProxy).toBe(false);
    expect(c.rateLimitMax).toBe(600);
    expect(c.rateLimitWindowS).toBe(60);
  });

  test("GraphiQL and introspection default on only with NODE_ENV=development; explicit values win", () => {
    expect(load({ NODE_ENV: "development" })).toMatchObject({ graphiql: true, introspection: true });
    for (const env of ["production", "test", "staging"])
      expect(load({ NODE_ENV: env })).toMatchObject({ graphiql: false, introspection: false });
    expect(load({ NODE_ENV: "development", GRAPHIQL: "false" }).graphiql).toBe(false);
    const prod = load({ NODE_ENV: "production" });
    expect(prod.graphiql).toBe(false);
    expect(prod.introspection).toBe(false);
    const explicit = load({ NODE_ENV: "production", GRAPHIQL: "true", INTROSPECTION: "true" });
    expect(explicit.graphiql).toBe(true);
    expect(explicit.introspection).toBe(true);
    expect(load({ INTROSPECTION: "false" }, ["--graphiql", "false"])).toMatchObject({ graphiql: false, introspection: false });
  });

  test("CORS_ORIGINS: empty, * or a list of origins", () => {
    expect(load({ CORS_ORIGINS: "*" }).corsOrigins).toEqual(["*"]);
    expect(load({ CORS_ORIGINS: "https://shop.example.com, http://localhost:5173" }).corsOrigins).toEqual([
      "https://shop.example.com",
      "http://localhost:5173",
    ]);
    for (const bad of ["shop.example.com", "https://shop.example.com/path", "ftp://x.example", "https://a.example,"]) {
      expect(() => load({ CORS_ORIGINS: bad })).toThrow(ConfigError);
    }
  });

  test("limits: 0 = off accepted; out of range values are refused with one line naming the variable", () => {
    expect(load({ MAX_DEPTH: "0", RATE_LIMIT_MAX: "0" })).toMatchObject({ maxDepth: 0, rateLimitMax: 0 });
    expect(() => load({ MAX_BODY_BYTES: "10" })).toThrow(/MAX_BODY_BYTES: invalid value "10"/);
    expect(() => load({ RATE_LIMIT_WINDOW_S: "0" })).toThrow(/RATE_LIMIT_WINDOW_S/);
    expect(() => load({ MAX_COST: "-1" })).toThrow(/MAX_COST/);
    expect(() => load({ TRUST_PROXY: "maybe" })).toThrow(/TRUST_PROXY/);
  });

  test("abuse limits: IP budget 3 x RATE_LIMIT_MAX unless set, registration/login budget, subscription caps", () => {
    const c = load();
    expect([c.rateLimitIpMax, c.rateLimitAuthMax, c.rateLimitAuthFields]).toEqual([1800, 10, ["register", "login", "refreshToken"]]);
    expect([c.maxSubscriptionsPerConnection, c.maxSubscriptionsPerAccount, c.maxSubscriptionsPerIp]).toEqual([20, 50, 200]);
    expect(load({ RATE_LIMIT_MAX: "100" }).rateLimitIpMax).toBe(300);
    expect(load({ RATE_LIMIT_MAX: "0" }).rateLimitIpMax).toBe(0);
    expect(load({ RATE_LIMIT_MAX: "100", RATE_LIMIT_IP_MAX: "50" }).rateLimitIpMax).toBe(50);
    expect(load({ RATE_LIMIT_AUTH_FIELDS: " login , signIn,login" }).rateLimitAuthFields).toEqual(["login", "signIn"]);
    expect(() => load({ RATE_LIMIT_AUTH_FIELDS: "login,sign-in" })).toThrow(
      /RATE_LIMIT_AUTH_FIELDS: invalid value "login,sign-in"; allowed: .*"sign-in" is not one/,
    );
    expect(() => load({ RATE_LIMIT_AUTH_FIELDS: " , " })).toThrow(/RATE_LIMIT_AUTH_FIELDS/);
    expect(() => load({ RATE_LIMIT_IP_MAX: "-1" })).toThrow(/RATE_LIMIT_IP_MAX/);
    expect(() => load({ MAX_SUBSCRIPTIONS_PER_CONNECTION: "many" })).toThrow(/MAX_SUBSCRIPTIONS_PER_CONNECTION/);
    expect(load({ MAX_SUBSCRIPTIONS_PER_ACCOUNT: "0" }).maxSubscriptionsPerAccount).toBe(0);
  });
});
