import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { verifyToken } from "../../src/kernel/auth/jwt.ts";
import type { Msg } from "../../src/kernel/bus/types.ts";
import type { Identity } from "../../src/kernel/identity.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import { accountModule } from "../../src/modules/account/module.ts";
import { createSessionGuard, SESSION_SUBJECTS, type SessionGuard } from "../../src/gateway/sessions.ts";
import { startModules, TEST_JWT_SECRET, type ModuleHarness } from "../helpers/modules.ts";
import { eventually, GiveUp } from "../helpers/eventually.ts";

/**
 * The gateway's session guard against the real account module (memory bus): answers, the
 * cache and its bound, and the events that drop it.
 */

const REGISTER = `mutation R($input: RegisterInput!) { register(input: $input) { token account { id } } }`;
const DISABLE = `mutation D($id: ID!) { disableAccount(id: $id) { id } }`;
const ADMIN: Identity = { accountId: "guard-admin", roles: ["customer", "admin"] };
const logger = createLogger({ level: "silent" });

describe("session guard", () => {
  let h: ModuleHarness;
  let seq = 0;
  const guards: SessionGuard[] = [];
  const guard = (ttlMs: number): SessionGuard => {
    const g = createSessionGuard({ bus: h.bus, logger, ttlMs, max: 100, timeoutMs: 2000 });
    guards.push(g);
    return g;
  };
  const register = async (): Promise<Identity> => {
    const r = await h.query<{ register: { token: string } }>("account", REGISTER, {
      input: { name: "G", email: `guard.${++seq}@example.com`, password: "correct horse battery" },
    });
    return verifyToken(TEST_JWT_SECRET, r.data?.register.token as string);
  };
  const disable = async (id: string): Promise<void> => {
    const r = await h.query("account", DISABLE, { id }, ADMIN);
    expect(r.errors).toBeUndefined();
  };
  const checks: number[] = [];

  beforeAll(async () => {
    h = await startModules([accountModule]);
    // Counts the checks that reach the account module (cache misses).
    h.bus.subscribe(SESSION_SUBJECTS.check, (m: Msg) => void checks.push(m.data.length));
  });
  afterAll(async () => {
    for (const g of guards) g.stop();
    await h.stop();
  });

  test("an existing account passes; a missing one is refused 401 UNAUTHENTICATED", async () => {
    const g = guard(5000);
    const me = await register();
    expect(await g.check(me)).toEqual({ ok: true });
    expect(await g.check({ accountId: "ghost", roles: ["customer", "admin"] })).toEqual({
      ok: false,
      status: 401,
      code: "UNAUTHENTICATED",
      reason: "the token's account does not exist",
    });
  });

  test("answers are cached for the TTL, and concurrent checks of one token share one request", async () => {
    const g = guard(60_000);
    const me = await register();
    const before = checks.length;
    await Promise.all(Array.from({ length: 20 }, () => g.check(me)));
    await g.check(me);
    expect(checks.length - before).toBe(1);
  });

  test("account.disabled reaches the guard: a cached 'active' answer is dropped at once", async () => {
    const g = guard(60_000);
    const me = await register();
    expect(await g.check(me)).toEqual({ ok: true });
    await disable(me.accountId);
    const start = Date.now();
    await eventually("account.disabled to drop the cached answer", async () => !(await g.check(me)).ok, { timeoutMs: 3000 }).catch(
      () => {},
    );
    expect(await g.check(me)).toMatchObject({ ok: false, status: 401, reason: "the token's account is disabled" });
    // Far below the 60 s TTL: the event did it.
    expect(Date.now() - start).toBeLessThan(3000);
  });

  test("a guard that missed the event refuses within its TTL (the documented bound)", async () => {
    const ttlMs = 400;
    const g = guard(ttlMs);
    const me = await register();
    expect(await g.check(me)).toEqual({ ok: true });
    g.stop(); // no more events for this guard: only its TTL can end the cached answer
    await disable(me.accountId);
    const disabledAt = Date.now();
    expect(await g.check(me)).toEqual({ ok: true }); // still the cached answer
    await eventually(
      "the cached answer to expire with its TTL",
      async () => {
        if (!(await g.check(me)).ok) return true;
        if (Date.now() - disabledAt >= ttlMs + 200)
          throw new GiveUp(`still cached ${Date.now() - disabledAt} ms after the disable (TTL ${ttlMs} ms + 200 ms)`);
        return false;
      },
      { timeoutMs: ttlMs + 1000, intervalMs: 20 },
    );
    expect(await g.check(me)).toMatchObject({ ok: false, code: "UNAUTHENTICATED" });
  });

  test("account module gone: a token last seen active keeps working on that answer; a token never seen is refused 503", async () => {
    const own = await startModules([accountModule]);
    const g = createSessionGuard({ bus: own.bus, logger, ttlMs: 100, max: 10, timeoutMs: 500 });
    try {
      const r = await own.query<{ register: { token: string } }>("account", REGISTER, {
        input: { name: "S", email: "stale@example.com", password: "correct horse battery" },
      });
      const seen = await verifyToken(TEST_JWT_SECRET, r.data?.register.token as string);
      expect(await g.check(seen)).toEqual({ ok: true });
      await own.kernel.stop(); // the account module stops serving account.session.check
      await Bun.sleep(150); // past the TTL: the guard must ask again, and nobody answers
      expect(await g.check(seen)).toEqual({ ok: true });
      expect(await g.check({ ...seen, sessionId: "never-checked" })).toMatchObject({ ok: false, status: 503, code: "SERVICE_UNAVAILABLE" });
      expect(await g.check({ accountId: "ghost", roles: [] })).toMatchObject({ ok: false, status: 503 });
    } finally {
      g.stop();
      await own.stop(); // kernel.stop is idempotent; closes the bus and registry, removes the temp dir
    }
  });

  test("no account module answering: 503 SERVICE_UNAVAILABLE (fail closed), nothing cached", async () => {
    const { createMemoryBus } = await import("../../src/kernel/bus/memory.ts");
    const empty = createMemoryBus();
    const g = createSessionGuard({ bus: empty, logger, ttlMs: 60_000, max: 10, timeoutMs: 200 });
    try {
      expect(await g.check({ accountId: "anyone", roles: [] })).toMatchObject({ ok: false, status: 503, code: "SERVICE_UNAVAILABLE" });
    } finally {
      g.stop();
      await empty.close();
    }
  });

  test("the check runs through the call policy: timeouts, and checks nobody served during their whole wait, open the breaker subject:account.session.check, which then fails fast (still 503)", async () => {
    const { createMemoryBus } = await import("../../src/kernel/bus/memory.ts");
    const { instrumentBus } = await import("../../src/kernel/bus/instrumented.ts");
    const { breakers, configureBreakers, DEFAULT_BREAKER } = await import("../../src/kernel/policy/index.ts");
    const target = `subject:${SESSION_SUBJECTS.check}`;
    const empty = createMemoryBus();
    try {
      // No account instance at all (crashed, not deployed): each check waits its timeout for one.
      configureBreakers({ failures: 2, resetMs: 60_000 });
      const absent = createSessionGuard({ bus: instrumentBus(empty), logger, ttlMs: 60_000, max: 10, timeoutMs: 200 });
      for (const accountId of ["a1", "a2"]) expect(await absent.check({ accountId, roles: [] })).toMatchObject({ status: 503 });
      expect(breakers().states()[target]).toBe("open");
      const started = performance.now();
      expect(await absent.check({ accountId: "a3", roles: [] })).toMatchObject({ ok: false, status: 503, code: "SERVICE_UNAVAILABLE" });
      expect(performance.now() - started).toBeLessThan(100);
      absent.stop();
      // An account instance that takes the checks and never answers (hung): each check times out.
      configureBreakers({ failures: 2, resetMs: 60_000 });
      empty.subscribe(SESSION_SUBJECTS.check, () => {}, { queue: "account" });
      const g = createSessionGuard({ bus: empty, logger, ttlMs: 60_000, max: 10, timeoutMs: 200 });
      for (const accountId of ["a1", "a2"]) expect(await g.check({ accountId, roles: [] })).toMatchObject({ status: 503 });
      expect(breakers().states()[target]).toBe("open");
      expect(await g.check({ accountId: "a3", roles: [] })).toMatchObject({ ok: false, status: 503, code: "SERVICE_UNAVAILABLE" });
      g.stop();
    } finally {
      await empty.close();
      configureBreakers(DEFAULT_BREAKER);
    }
  });
});
