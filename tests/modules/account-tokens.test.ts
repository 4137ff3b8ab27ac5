import { afterAll, afterEach, beforeAll, describe, expect, setSystemTime, test } from "bun:test";
import { createHash } from "node:crypto";
import { verifyToken } from "../../src/kernel/auth/jwt.ts";
import type { Msg } from "../../src/kernel/bus/types.ts";
import type { Identity } from "../../src/kernel/identity.ts";
import { AccountEvents, AccountSubjects, type SessionCheckReply } from "../../src/modules/account/contract/index.ts";
import { accountModule } from "../../src/modules/account/module.ts";
import { AccountService } from "../../src/modules/account/service.ts";
import { openAccountDatabase } from "../../src/modules/account/storage/store.ts";
import { SESSION_SUBJECTS } from "../../src/gateway/sessions.ts";
import { DATABASES, openProbe, usePostgres, type DbProbe } from "../helpers/databases.ts";
import { startModules, TEST_JWT_SECRET, type ModuleHarness } from "../helpers/modules.ts";
import { eventually } from "../helpers/eventually.ts";

/**
 * Token lifecycle in the account module: access tokens with exp and sid, rotating refresh
 * tokens stored hashed (reuse of a rotated one revokes the family), logout, disable/enable,
 * and the session check the gateway asks.
 */

interface Pair {
  token: string;
  expiresAt: string;
  refreshToken: string;
  refreshTokenExpiresAt: string;
  account: { id: string; roles: string[] };
}
const PAIR = "token expiresAt refreshToken refreshTokenExpiresAt account { id roles }";
const REGISTER = `mutation R($input: RegisterInput!) { register(input: $input) { ${PAIR} } }`;
const LOGIN = `mutation L($email: String!, $password: String!) { login(email: $email, password: $password) { ${PAIR} } }`;
const REFRESH = `mutation F($t: String!) { refreshToken(refreshToken: $t) { ${PAIR} } }`;
const LOGOUT = `mutation O($t: String) { logout(refreshToken: $t) }`;
const DISABLE = `mutation D($id: ID!) { disableAccount(id: $id) { id disabledAt } }`;
const ENABLE = `mutation E($id: ID!) { enableAccount(id: $id) { id disabledAt } }`;
const PASSWORD = "correct horse battery staple";
const sha256 = (s: string): string => createHash("sha256").update(s).digest("hex");

usePostgres();

test("the gateway's session subjects are the account contract's", () => {
  expect(SESSION_SUBJECTS.check).toBe(AccountSubjects.sessionCheck);
  expect([...SESSION_SUBJECTS.events].sort()).toEqual([AccountEvents.disabled, AccountEvents.enabled, AccountEvents.sessionRevoked].sort());
});

for (const db of DATABASES)
  describe(`account tokens [${db}]`, () => {
    let h: ModuleHarness;
    let probe: DbProbe;
    let seq = 0;
    const events: { subject: string; body: Record<string, unknown> }[] = [];
    const ADMIN: Identity = { accountId: "admin-not-stored", roles: ["customer", "admin"] };

    async function run<T>(
      query: string,
      variables?: Record<string, unknown>,
      identity?: Identity,
    ): Promise<{ data?: T; code?: unknown; message?: string }> {
      const r = await h.query<T>("account", query, variables, identity);
      const e = r.errors?.[0];
      return { ...(r.data ? { data: r.data } : {}), ...(e ? { code: e.extensions?.["code"], message: e.message } : {}) };
    }
    async function ok<T>(query: string, variables?: Record<string, unknown>, identity?: Identity): Promise<T> {
      const r = await h.query<T>("account", query, variables, identity);
      if (r.errors?.length) throw new Error(JSON.stringify(r.errors));
      return r.data as T;
    }
    const register = async (): Promise<Pair & { email: string }> => {
      const email = `tok.${++seq}.${db}@example.com`;
      return { ...(await ok<{ register: Pair }>(REGISTER, { input: { name: "Tok", email, password: PASSWORD } })).register, email };
    };
    const refresh = (t: string) => run<{ refreshToken: Pair }>(REFRESH, { t });
    const check = (accountId: string, sessionId?: string): Promise<SessionCheckReply> =>
      h.call(AccountSubjects.sessionCheck, sessionId ? { accountId, sessionId } : { accountId });
    const identityOf = (token: string): Promise<Identity> => verifyToken(TEST_JWT_SECRET, token);
    const eventsOf = (subject: string, accountId: string) =>
      events.filter((e) => e.subject === subject && e.body["accountId"] === accountId);

    beforeAll(async () => {
      h = await startModules([accountModule], { jwtTtlS: 900, refreshTokenTtlS: 3600 }, { database: db });
      probe = openProbe(h.database("account"));
      for (const subject of [AccountEvents.disabled, AccountEvents.enabled, AccountEvents.sessionRevoked]) {
        h.bus.subscribe(subject, (m: Msg) => void events.push({ subject, body: m.json<Record<string, unknown>>() }));
      }
    });
    afterAll(async () => {
      await probe.close();
      await h.stop();
    });
    afterEach(() => setSystemTime());

    test("register and login return a short-lived access token with exp and sid, and a refresh token stored only as its SHA-256", async () => {
      const r = await register();
      const identity = await identityOf(r.token);
      expect(identity.accountId).toBe(r.account.id);
      expect(identity.sessionId).toMatch(/^[0-9A-Za-z]{27}$/);
      const claims = JSON.parse(Buffer.from(r.token.split(".")[1] ?? "", "base64url").toString()) as {
        exp: number;
        iat: number;
        jti: string;
        sid: string;
      };
      expect(claims.exp - claims.iat).toBe(900);
      expect(claims.jti).toBeTruthy();
      expect(new Date(r.expiresAt).getTime()).toBe(claims.exp * 1000);
      expect(Math.abs(Date.parse(r.refreshTokenExpiresAt) - (Date.now() + 3600_000))).toBeLessThan(10_000);
      expect(r.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const rows = await probe.all<{ token_hash: string; session_id: string }>(
        "SELECT token_hash, session_id FROM refresh_tokens WHERE session_id = ?",
        claims.sid,
      );
      expect(rows).toEqual([{ token_hash: sha256(r.refreshToken), session_id: claims.sid }]);
      expect(await probe.get("SELECT 1 AS x FROM refresh_tokens WHERE token_hash = ?", r.refreshToken)).toBeUndefined();

      const l = (await ok<{ login: Pair }>(LOGIN, { email: r.email, password: PASSWORD })).login;
      // A login is a new session.
      expect((await identityOf(l.token)).sessionId).not.toBe(claims.sid);
    });

    test("refreshToken rotates: a new pair of the same session, the old refresh token marked used", async () => {
      const r = await register();
      const sid = (await identityOf(r.token)).sessionId;
      const next = (await refresh(r.refreshToken)).data?.refreshToken;
      if (!next) throw new Error("no rotated pair");
      expect(next.refreshToken).not.toBe(r.refreshToken);
      expect(next.token).not.toBe(r.token);
      expect((await identityOf(next.token)).sessionId).toBe(sid);
      const used = await probe.get<{ used: number }>(
        "SELECT count(*) AS used FROM refresh_tokens WHERE token_hash = ? AND used_at IS NOT NULL",
        sha256(r.refreshToken),
      );
      expect(Number(used?.used)).toBe(1);
      // The new one rotates again.
      expect((await refresh(next.refreshToken)).data?.refreshToken.account.id).toBe(r.account.id);
    });

    test("reusing a rotated refresh token is TOKEN_REUSED and revokes the whole family (the newest token too), with account.session_revoked", async () => {
      const r = await register();
      const sid = (await identityOf(r.token)).sessionId as string;
      const next = (await refresh(r.refreshToken)).data?.refreshToken;
      if (!next) throw new Error("no rotated pair");
      expect(await check(r.account.id, sid)).toEqual({ active: true });

      const reuse = await refresh(r.refreshToken);
      expect(reuse.code).toBe("TOKEN_REUSED");
      expect(reuse.data).toBeFalsy();
      // The thief's or the client's newest token is dead too.
      expect((await refresh(next.refreshToken)).code).toBe("UNAUTHENTICATED");
      expect(await check(r.account.id, sid)).toEqual({ active: false, reason: "session_revoked" });
      await eventually(
        "eventsOf(AccountEvents.sessionRevoked, r.account.id).length === 1",
        () => eventsOf(AccountEvents.sessionRevoked, r.account.id).length === 1,
      );
      expect(eventsOf(AccountEvents.sessionRevoked, r.account.id)[0]?.body).toMatchObject({ sessionId: sid, reason: "reuse" });
      // Another session of the same account is untouched.
      const other = (await ok<{ login: Pair }>(LOGIN, { email: r.email, password: PASSWORD })).login;
      expect((await refresh(other.refreshToken)).data?.refreshToken.account.id).toBe(r.account.id);
    });

    test("two concurrent rotations of one refresh token: one wins, the other is reuse (the family is revoked)", async () => {
      const r = await register();
      const outcomes = await Promise.all([refresh(r.refreshToken), refresh(r.refreshToken)]);
      expect(outcomes.filter((o) => o.data?.refreshToken).length).toBe(1);
      expect(outcomes.filter((o) => o.code === "TOKEN_REUSED").length).toBe(1);
      const winner = outcomes.find((o) => o.data)?.data?.refreshToken as Pair;
      expect((await refresh(winner.refreshToken)).code).toBe("UNAUTHENTICATED");
    });

    test("unknown, oversized and expired refresh tokens are UNAUTHENTICATED and write nothing", async () => {
      const r = await register();
      const count = async () => Number((await probe.get<{ n: number }>("SELECT count(*) AS n FROM refresh_tokens"))?.n);
      const before = await count();
      expect((await refresh("no-such-token")).code).toBe("UNAUTHENTICATED");
      expect((await refresh("x".repeat(10_000))).code).toBe("UNAUTHENTICATED");
      setSystemTime(new Date(Date.now() + 3601_000));
      expect((await refresh(r.refreshToken)).code).toBe("UNAUTHENTICATED");
      setSystemTime();
      expect(await count()).toBe(before);
      // Not marked used by the refused attempt: still valid (the clock is back).
      expect((await refresh(r.refreshToken)).data?.refreshToken).toBeTruthy();
    });

    test("logout revokes the caller's session (refresh refused, session check says revoked) and, with a refresh token, that session of the same account", async () => {
      const r = await register();
      const me = await identityOf(r.token);
      const second = (await ok<{ login: Pair }>(LOGIN, { email: r.email, password: PASSWORD })).login;
      const stranger = await register();

      expect((await run(LOGOUT, {})).code).toBe("UNAUTHENTICATED");
      // Another account's refresh token is not the caller's to revoke.
      expect((await ok<{ logout: boolean }>(LOGOUT, { t: stranger.refreshToken }, me)).logout).toBe(true);
      expect((await refresh(stranger.refreshToken)).data?.refreshToken).toBeTruthy();
      expect(await check(r.account.id, me.sessionId)).toEqual({ active: false, reason: "session_revoked" });
      expect((await refresh(r.refreshToken)).code).toBe("UNAUTHENTICATED");
      await eventually(
        "eventsOf(AccountEvents.sessionRevoked, r.account.id).length === 1",
        () => eventsOf(AccountEvents.sessionRevoked, r.account.id).length === 1,
      );
      expect(eventsOf(AccountEvents.sessionRevoked, r.account.id)[0]?.body).toMatchObject({ sessionId: me.sessionId, reason: "logout" });
      // Second logout of the same session: nothing left to revoke.
      expect((await ok<{ logout: boolean }>(LOGOUT, {}, me)).logout).toBe(false);

      // The second session is still active until logged out by its refresh token.
      const secondSid = (await identityOf(second.token)).sessionId;
      expect(await check(r.account.id, secondSid)).toEqual({ active: true });
      expect((await ok<{ logout: boolean }>(LOGOUT, { t: second.refreshToken }, me)).logout).toBe(true);
      expect(await check(r.account.id, secondSid)).toEqual({ active: false, reason: "session_revoked" });
    });

    test("disableAccount (admin): login and refresh refused, every session revoked, account.disabled once; enableAccount lets new logins in", async () => {
      const r = await register();
      const sid = (await identityOf(r.token)).sessionId;
      const customer: Identity = { accountId: r.account.id, roles: ["customer"] };
      expect((await run(DISABLE, { id: r.account.id }, customer)).code).toBe("FORBIDDEN");
      expect((await run(DISABLE, { id: r.account.id })).code).toBe("FORBIDDEN");
      expect((await run(DISABLE, { id: "nobody" }, ADMIN)).code).toBe("NOT_FOUND");
      expect((await run(DISABLE, { id: ADMIN.accountId }, ADMIN)).code).toBe("BAD_USER_INPUT");
      expect(await check(r.account.id, sid)).toEqual({ active: true });

      const d = (await ok<{ disableAccount: { id: string; disabledAt: string } }>(DISABLE, { id: r.account.id }, ADMIN)).disableAccount;
      expect(Math.abs(Date.parse(d.disabledAt) - Date.now())).toBeLessThan(10_000);
      expect(await check(r.account.id, sid)).toEqual({ active: false, reason: "account_disabled" });
      expect(await check(r.account.id)).toEqual({ active: false, reason: "account_disabled" });
      expect((await run(LOGIN, { email: r.email, password: PASSWORD })).code).toBe("ACCOUNT_DISABLED");
      // A wrong password still answers INVALID_CREDENTIALS (nothing learnt without the password).
      expect((await run(LOGIN, { email: r.email, password: "wrong password!" })).code).toBe("INVALID_CREDENTIALS");
      expect((await refresh(r.refreshToken)).code).toBe("UNAUTHENTICATED");
      const revoked = await probe.get<{ n: number }>(
        "SELECT count(*) AS n FROM sessions WHERE account_id = ? AND revoked_at IS NULL",
        r.account.id,
      );
      expect(Number(revoked?.n)).toBe(0);
      await eventually(
        "eventsOf(AccountEvents.disabled, r.account.id).length === 1",
        () => eventsOf(AccountEvents.disabled, r.account.id).length === 1,
      );
      // Idempotent: no second event.
      await ok(DISABLE, { id: r.account.id }, ADMIN);
      await Bun.sleep(100); // a window in which a second event would arrive
      expect(eventsOf(AccountEvents.disabled, r.account.id).length).toBe(1);

      const e = (await ok<{ enableAccount: { disabledAt: string | null } }>(ENABLE, { id: r.account.id }, ADMIN)).enableAccount;
      expect(e.disabledAt).toBeNull();
      await eventually(
        "eventsOf(AccountEvents.enabled, r.account.id).length === 1",
        () => eventsOf(AccountEvents.enabled, r.account.id).length === 1,
      );
      // Old sessions stay revoked; a new login works.
      expect(await check(r.account.id, sid)).toEqual({ active: false, reason: "session_revoked" });
      const again = (await ok<{ login: Pair }>(LOGIN, { email: r.email, password: PASSWORD })).login;
      expect(await check(r.account.id, (await identityOf(again.token)).sessionId)).toEqual({ active: true });
    });

    test("expired refresh tokens are pruned; the session survives (a revoked one stays revoked), unexpired tokens stay", async () => {
      const db = h.database("account");
      const store = await openAccountDatabase(db.kind === "postgres" ? { ...db, poolMax: 2 } : db);
      try {
        const service = await AccountService.create({ store, jwtSecret: TEST_JWT_SECRET, jwtTtlS: 900, refreshTokenTtlS: 3600 });
        const old = await register();
        const oldSid = (await identityOf(old.token)).sessionId as string;
        await ok(LOGOUT, {}, await identityOf(old.token));
        const now = await register(); // expires just before the prune instant
        // After both registrations (each ends before now): every token so far expires before it.
        const inAnHour = new Date(Date.now() + 3601_000);
        const count = async (t: string) =>
          Number((await probe.get<{ n: number }>("SELECT count(*) AS n FROM refresh_tokens WHERE token_hash = ?", sha256(t)))?.n);
        setSystemTime(new Date(Date.now() + 1800_000));
        const fresh = await register(); // registered half an hour later: expires after the prune instant
        setSystemTime();
        expect(await service.pruneExpiredRefreshTokens(inAnHour)).toBeGreaterThanOrEqual(2);
        expect(await count(old.refreshToken)).toBe(0);
        expect(await count(now.refreshToken)).toBe(0);
        expect(await count(fresh.refreshToken)).toBe(1);
        expect(await check(old.account.id, oldSid)).toEqual({ active: false, reason: "session_revoked" });
        expect((await refresh(old.refreshToken)).code).toBe("UNAUTHENTICATED");
        expect(await service.pruneExpiredRefreshTokens(inAnHour)).toBe(0);
      } finally {
        await store.close();
      }
    });

    test("session check: a missing account is refused, a token minted without a stored session is judged by its account, malformed requests are BAD_REQUEST", async () => {
      const r = await register();
      expect(await check("no-such-account")).toEqual({ active: false, reason: "account_missing" });
      expect(await check("no-such-account", "no-such-session")).toEqual({ active: false, reason: "account_missing" });
      expect(await check(r.account.id)).toEqual({ active: true });
      expect(await check(r.account.id, "not-a-stored-session")).toEqual({ active: true });
      // A session of another account does not vouch for this one.
      const other = await register();
      expect(await check(r.account.id, (await identityOf(other.token)).sessionId)).toEqual({ active: false, reason: "session_revoked" });
      await expect(h.call(AccountSubjects.sessionCheck, { accountId: 42 })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    });
  });
