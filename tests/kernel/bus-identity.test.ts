import { describe, expect, test } from "bun:test";
import { BusIdentity, assertBusSigningKey, resolveBusSigningKey } from "../../src/kernel/bus-identity.ts";
import { IDENTITY_HEADER, REQUEST_ID_HEADER } from "../../src/kernel/identity.ts";
import { ConfigError, loadConfig } from "../../src/kernel/config.ts";

const KEY = `${"k".repeat(16)}bus-signing-key-0123456789`;
const OTHER_KEY = `${"o".repeat(16)}bus-signing-key-0123456789`;
const admin = { accountId: "acc_1", roles: ["admin"] };

/** A signer/verifier on a clock the test moves. */
function clocked(key = KEY, ttlMs = 30_000) {
  const clock = { now: 1_700_000_000_000 };
  return { clock, bus: new BusIdentity({ key, ttlMs, now: () => clock.now }) };
}

/** Re-encodes a token's payload with `change` applied, keeping the original MAC. */
function tamper(header: string, change: (p: Record<string, unknown>) => void): string {
  const [v, payload, mac] = header.split(".") as [string, string, string];
  const p = JSON.parse(Buffer.from(payload, "base64url").toString()) as Record<string, unknown>;
  change(p);
  return `${v}.${Buffer.from(JSON.stringify(p)).toString("base64url")}.${mac}`;
}

describe("bus identity signing", () => {
  test("a signed identity verifies, bound to its request id", () => {
    const { bus } = clocked();
    const header = bus.sign(admin, "req-1");
    expect(bus.verify(header, "req-1")).toEqual({ ok: true, identity: admin });
    expect(bus.verify(header, "req-2")).toEqual({ ok: false, reason: "request-id-mismatch" });
    expect(bus.verify(header, undefined)).toEqual({ ok: false, reason: "request-id-mismatch" });
  });

  test("the session id travels signed with the identity", () => {
    const { bus } = clocked();
    const withSession = { accountId: "acc_3", roles: ["customer"], sessionId: "sess_1" };
    expect(bus.verify(bus.sign(withSession, "r"), "r")).toEqual({ ok: true, identity: withSession });
    const swapped = tamper(bus.sign(withSession, "r2"), (p) => (p["sid"] = "sess_other"));
    expect(bus.verify(swapped, "r2")).toEqual({ ok: false, reason: "bad-signature" });
  });

  test("no header is anonymous; the old unsigned JSON form and garbage are refused", () => {
    const { bus } = clocked();
    expect(bus.verify(undefined, "r")).toEqual({ ok: true, identity: null });
    expect(bus.verify(JSON.stringify(admin), "r")).toEqual({ ok: false, reason: "malformed" });
    expect(bus.verify("v1.abc", "r")).toEqual({ ok: false, reason: "malformed" });
    expect(bus.verify("v2.a.b", "r")).toEqual({ ok: false, reason: "malformed" });
    expect(bus.verify("v1.a.b.c", "r")).toEqual({ ok: false, reason: "malformed" });
    expect(bus.verify("v1.e30.", "r")).toEqual({ ok: false, reason: "bad-signature" });
  });

  test("a tampered payload (roles raised, other account, later expiry) fails the MAC", () => {
    const { bus } = clocked();
    const customer = bus.sign({ accountId: "acc_2", roles: ["customer"] }, "r");
    expect(
      bus.verify(
        tamper(customer, (p) => (p["roles"] = ["admin"])),
        "r",
      ),
    ).toEqual({ ok: false, reason: "bad-signature" });
    expect(
      bus.verify(
        tamper(customer, (p) => (p["sub"] = "acc_1")),
        "r",
      ),
    ).toEqual({ ok: false, reason: "bad-signature" });
    expect(
      bus.verify(
        tamper(customer, (p) => (p["exp"] = Number(p["exp"]) + 3_600_000)),
        "r",
      ),
    ).toEqual({ ok: false, reason: "bad-signature" });
    const [v, payload, mac] = customer.split(".") as [string, string, string];
    const flipped = Buffer.from(mac, "base64url");
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    expect(bus.verify(`${v}.${payload}.${flipped.toString("base64url")}`, "r")).toEqual({ ok: false, reason: "bad-signature" });
  });

  test("a token of another key is refused", () => {
    const { bus } = clocked();
    const { bus: other } = clocked(OTHER_KEY);
    expect(bus.verify(other.sign(admin, "r"), "r")).toEqual({ ok: false, reason: "bad-signature" });
  });

  test("expires after ttlMs, also when its verification was cached", () => {
    const { bus, clock } = clocked(KEY, 1000);
    const header = bus.sign(admin, "r");
    expect(bus.verify(header, "r").ok).toBe(true);
    clock.now += 999;
    expect(bus.verify(header, "r").ok).toBe(true);
    clock.now += 1;
    expect(bus.verify(header, "r")).toEqual({ ok: false, reason: "expired" });
    // A verifier that never saw it (no cache) refuses it too.
    const fresh = new BusIdentity({ key: KEY, ttlMs: 1000, now: () => clock.now });
    expect(fresh.verify(header, "r")).toEqual({ ok: false, reason: "expired" });
  });

  test("fetches of one request reuse the signature; it is renewed before it could expire in use", () => {
    const { bus, clock } = clocked(KEY, 1000);
    const first = bus.sign(admin, "r");
    expect(bus.sign(admin, "r")).toBe(first);
    expect(bus.sign(admin, "other")).not.toBe(first);
    const again = bus.sign(admin, "r");
    clock.now += 500;
    const renewed = bus.sign(admin, "r");
    expect(renewed).not.toBe(again);
    clock.now += 999;
    expect(bus.verify(renewed, "r").ok).toBe(true);
  });

  test("headers(): request id always, identity only for a caller", () => {
    const { bus } = clocked();
    expect(bus.headers(null, "r")).toEqual({ [REQUEST_ID_HEADER]: "r" });
    const h = bus.headers(admin, "r");
    expect(bus.verify(h[IDENTITY_HEADER], h[REQUEST_ID_HEADER])).toEqual({ ok: true, identity: admin });
  });

  test("the verified identity is frozen (cached verifications share it)", () => {
    const { bus } = clocked();
    const r = bus.verify(bus.sign(admin, "r"), "r");
    if (!r.ok || !r.identity) throw new Error("expected an identity");
    expect(() => r.identity?.roles.push("x")).toThrow();
  });

  test("keys shorter than 32 characters are refused", () => {
    expect(() => new BusIdentity({ key: "short", ttlMs: 1000 })).toThrow(RangeError);
  });
});

describe("BUS_SIGNING_KEY", () => {
  const parts = ["account", "catalog", "gateway"];
  test("unset: derived from JWT_SECRET, the same in every process sharing it, distinct from it", () => {
    const a = resolveBusSigningKey({ jwtSecret: "s".repeat(40) });
    expect(a).toBe(resolveBusSigningKey({ jwtSecret: "s".repeat(40) }));
    expect(a).not.toBe(resolveBusSigningKey({ jwtSecret: "t".repeat(40) }));
    expect(a).not.toContain("s".repeat(40));
    expect(a.length).toBeGreaterThanOrEqual(32);
    expect(resolveBusSigningKey({ busSigningKey: KEY, jwtSecret: "s".repeat(40) })).toBe(KEY);
    expect(() => resolveBusSigningKey({})).toThrow();
  });

  test("required on NATS unless NODE_ENV=development (production is the default), not for --migrate; at least 32 characters; TTL bounded", () => {
    const load = (env: Record<string, string>) => {
      const r = loadConfig([], env, { parts });
      if (r.help) throw new Error("help");
      return r.config;
    };
    const nats = "nats://127.0.0.1:4222";
    expect(() => assertBusSigningKey(load({ NODE_ENV: "production", BUS: nats }))).toThrow(ConfigError);
    expect(() => assertBusSigningKey(load({ BUS: nats }))).toThrow(/BUS_SIGNING_KEY/);
    expect(() => assertBusSigningKey(load({ BUS: nats }), { migrateOnly: true })).not.toThrow();
    expect(() => assertBusSigningKey(load({ NODE_ENV: "development", BUS: nats }))).not.toThrow();
    expect(() => assertBusSigningKey(load({ NODE_ENV: "production" }))).not.toThrow();
    const ok = load({ BUS: nats, BUS_SIGNING_KEY: KEY });
    expect(ok.busSigningKey).toBe(KEY);
    expect(() => assertBusSigningKey(ok)).not.toThrow();
    expect(load({ NODE_ENV: "development", BUS: nats }).busSigningKey).toBeUndefined();
    expect(load({}).busIdentityTtlMs).toBe(30_000);
    expect(() => load({ BUS_SIGNING_KEY: "short" })).toThrow(/BUS_SIGNING_KEY/);
    expect(() => load({ BUS_IDENTITY_TTL_MS: "10" })).toThrow(/BUS_IDENTITY_TTL_MS/);
  });
});
