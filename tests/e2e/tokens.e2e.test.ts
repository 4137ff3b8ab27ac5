import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { JWT_AUDIENCE, JWT_ISSUER, signToken } from "../../src/kernel/auth/jwt.ts";
import type { SplitTopology } from "../../scripts/split-topology.ts";
import { openProbe, type DbProbe } from "../helpers/databases.ts";
import { freePort } from "../helpers/ports.ts";
import { postGraphql, uniqueEmail, type GqlResponse } from "../helpers/client.ts";
import { selectedTopologies, TOPOLOGIES, type Topology } from "../helpers/topology.ts";
import { allProducts } from "./flows.ts";
import { eventually } from "../helpers/eventually.ts";

/**
 * Token lifecycle end to end, through the gateway(s): access tokens without exp are refused;
 * a token for a missing account writes nothing; refresh rotation, reuse detection, logout and
 * disableAccount make every gateway refuse the revoked access tokens. In split mode a second
 * gateway process runs beside the first: both must refuse. SESSION_CHECK_TTL_MS is set to
 * 60 s, so a refusal within a few seconds can only come from the account events reaching
 * each gateway (the TTL fallback itself is tested in tests/gateway/sessions.test.ts).
 */

const JWT_SECRET = "tokens-e2e-secret-tokens-e2e-secret-0123456789";
const ADMIN_EMAIL = "root@tokens.example";
const ADMIN_PASSWORD = "tokens e2e admin password";
const PASSWORD = "correct horse battery staple";
/** How fast an event must make every gateway refuse (far below the 60 s cache TTL). */
const EVENT_BOUND_MS = 5000;

interface Pair {
  token: string;
  refreshToken: string;
  expiresAt: string;
  account: { id: string };
}
const PAIR = "token refreshToken expiresAt account { id }";

const post = postGraphql;
const codeOf = (b: GqlResponse<unknown>): string | undefined => b.errors?.[0]?.extensions?.code;

for (const name of selectedTopologies()) {
  describe(`token lifecycle end to end [${name}]`, () => {
    let t: Topology;
    /** Every gateway's /graphql (two in split mode). */
    let gateways: string[] = [];
    let url: string;
    let orders: DbProbe;
    const dataDir = mkdtempSync(join(tmpdir(), "switchyard-tokens-e2e-"));

    const register = async (): Promise<Pair & { email: string }> => {
      const email = uniqueEmail("tok");
      const r = await post<{ register: Pair }>(url, `mutation($i: RegisterInput!) { register(input: $i) { ${PAIR} } }`, {
        i: { name: "Tess Token", email, password: PASSWORD },
      });
      if (!r.body.data?.register) throw new Error(JSON.stringify(r.body));
      return { ...r.body.data.register, email };
    };
    const login = (email: string, password = PASSWORD) =>
      post<{ login: Pair }>(url, `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { ${PAIR} } }`, {
        e: email,
        p: password,
      });
    const refresh = (refreshToken: string, gw = url) =>
      post<{ refreshToken: Pair }>(gw, `mutation($t: String!) { refreshToken(refreshToken: $t) { ${PAIR} } }`, { t: refreshToken });
    const me = (token: string, gw: string) => post<{ me: { id: string } }>(gw, "{ me { id } }", {}, token);
    /** Polls every gateway until it refuses `token` with 401 UNAUTHENTICATED; returns the ms it took (throws past the bound). */
    const refusedEverywhere = async (token: string, since: number): Promise<number> => {
      for (const gw of gateways) {
        await eventually(
          `gateway ${gw} to refuse the token`,
          async () => {
            const r = await me(token, gw);
            return r.status === 401 && codeOf(r.body) === "UNAUTHENTICATED";
          },
          { timeoutMs: EVENT_BOUND_MS, intervalMs: 50 },
        );
      }
      return Date.now() - since;
    };

    beforeAll(async () => {
      const start = TOPOLOGIES[name];
      if (!start) throw new Error(`unknown topology ${name}`);
      const env = { JWT_SECRET, ADMIN_EMAIL, ADMIN_PASSWORD, SESSION_CHECK_TTL_MS: "60000", DATA_DIR: dataDir };
      t = await start({ env });
      url = t.graphqlUrl;
      gateways = [url];
      const split = (t as Topology & { split?: SplitTopology }).split;
      if (split) {
        const port = await freePort();
        await split.spawn("gateway", "gateway-2", { ...env, PORT: String(port) });
        const second = `http://127.0.0.1:${port}/graphql`;
        await eventually(
          "second gateway ready",
          async () => (await fetch(second.replace("/graphql", "/health/ready")).catch(() => null))?.status === 200,
          { timeoutMs: 60_000, intervalMs: 50 },
        );
        gateways.push(second);
        orders = openProbe({ kind: "postgres", url: split.sharedEnv["ORDER_DATABASE_URL"] as string, poolMax: 2 });
      } else {
        orders = openProbe({ kind: "sqlite", path: join(dataDir, "order.sqlite") });
      }
    }, 180_000);
    afterAll(async () => {
      await orders?.close();
      await t?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }, 60_000);

    test("a validly signed token without exp is refused 401 UNAUTHENTICATED on every gateway", async () => {
      const account = await register();
      const forever = await new SignJWT({ roles: ["customer"] })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setSubject(account.account.id)
        .setIssuer(JWT_ISSUER)
        .setAudience(JWT_AUDIENCE)
        .setIssuedAt()
        .sign(new TextEncoder().encode(JWT_SECRET));
      for (const gw of gateways) {
        const r = await me(forever, gw);
        expect(r.status).toBe(401);
        expect(codeOf(r.body)).toBe("UNAUTHENTICATED");
        expect(r.body.errors?.[0]?.message).toBe("token has no expiry");
        // The account's own token works: only the missing exp is refused.
        expect((await me(account.token, gw)).body.data?.me.id).toBe(account.account.id);
      }
    });

    test("a valid-signature token whose sub is no account cannot createOrder: 401, nothing reserved, no order", async () => {
      const ghostId = `ghost${Date.now().toString(36)}`;
      const ghost = await signToken(JWT_SECRET, { accountId: ghostId, roles: ["customer"] }, 600);
      const p = (await allProducts(url)).find((n) => n.stock >= 2);
      if (!p) throw new Error("no product in stock");
      for (const gw of gateways) {
        const r = await post<{ createOrder: { id: string } }>(
          gw,
          `mutation($i: CreateOrderInput!) { createOrder(input: $i) { id status } }`,
          { i: { items: [{ productId: p.id, quantity: 1 }] } },
          ghost,
        );
        expect(r.status).toBe(401);
        expect(codeOf(r.body)).toBe("UNAUTHENTICATED");
        expect(r.body.data ?? null).toBeNull();
      }
      const after = (await allProducts(url)).find((n) => n.id === p.id);
      expect(after?.stock).toBe(p.stock);
      expect(await orders.all("SELECT id FROM orders WHERE account_id = ?", ghostId)).toEqual([]);
    });

    test("refresh rotation works through every gateway; reusing a rotated refresh token is TOKEN_REUSED and every gateway refuses the family's access token", async () => {
      const a = await register();
      const rotated = await refresh(a.refreshToken, gateways.at(-1));
      const next = rotated.body.data?.refreshToken;
      if (!next) throw new Error(JSON.stringify(rotated.body));
      expect(next.refreshToken).not.toBe(a.refreshToken);
      for (const gw of gateways) expect((await me(next.token, gw)).body.data?.me.id).toBe(a.account.id);

      const reuse = await refresh(a.refreshToken);
      expect(codeOf(reuse.body)).toBe("TOKEN_REUSED");
      const since = Date.now();
      expect(await refusedEverywhere(next.token, since)).toBeLessThan(EVENT_BOUND_MS);
      expect(await refusedEverywhere(a.token, since)).toBeLessThan(EVENT_BOUND_MS);
      expect(codeOf((await refresh(next.refreshToken)).body)).toBe("UNAUTHENTICATED");
    });

    test("logout revokes the session: every gateway refuses its access token, its refresh token is dead; another session lives on", async () => {
      const a = await register();
      const other = (await login(a.email)).body.data?.login as Pair;
      for (const gw of gateways) expect((await me(a.token, gw)).status).toBe(200); // cached as active on every gateway
      expect((await post(url, "mutation { logout }")).body.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
      const out = await post<{ logout: boolean }>(gateways.at(-1) as string, "mutation { logout }", {}, a.token);
      expect(out.body).toEqual({ data: { logout: true } });
      expect(await refusedEverywhere(a.token, Date.now())).toBeLessThan(EVENT_BOUND_MS);
      expect(codeOf((await refresh(a.refreshToken)).body)).toBe("UNAUTHENTICATED");
      for (const gw of gateways) expect((await me(other.token, gw)).body.data?.me.id).toBe(a.account.id);
    });

    test("disableAccount (admin): every gateway refuses the account's access tokens within the bound, login is ACCOUNT_DISABLED; enableAccount lets a new login in", async () => {
      const admin = (await login(ADMIN_EMAIL, ADMIN_PASSWORD)).body.data?.login as Pair;
      const a = await register();
      const second = (await login(a.email)).body.data?.login as Pair;
      for (const gw of gateways) for (const tok of [a.token, second.token]) expect((await me(tok, gw)).status).toBe(200);

      const DISABLE = `mutation($id: ID!) { disableAccount(id: $id) { id disabledAt } }`;
      expect(codeOf((await post(url, DISABLE, { id: a.account.id }, a.token)).body)).toBe("FORBIDDEN");
      const d = await post<{ disableAccount: { id: string; disabledAt: string } }>(url, DISABLE, { id: a.account.id }, admin.token);
      expect(d.body.data?.disableAccount.id).toBe(a.account.id);
      const since = Date.now();
      expect(await refusedEverywhere(a.token, since)).toBeLessThan(EVENT_BOUND_MS);
      expect(await refusedEverywhere(second.token, since)).toBeLessThan(EVENT_BOUND_MS);
      expect(codeOf((await login(a.email)).body)).toBe("ACCOUNT_DISABLED");
      expect(codeOf((await refresh(second.refreshToken)).body)).toBe("UNAUTHENTICATED");
      // The admin's own token is unaffected.
      for (const gw of gateways) expect((await me(admin.token, gw)).status).toBe(200);

      const e = await post<{ enableAccount: { disabledAt: string | null } }>(
        url,
        `mutation($id: ID!) { enableAccount(id: $id) { disabledAt } }`,
        { id: a.account.id },
        admin.token,
      );
      expect(e.body).toEqual({ data: { enableAccount: { disabledAt: null } } });
      const again = (await login(a.email)).body.data?.login as Pair;
      // Every gateway accepts the new session.
      for (const gw of gateways) {
        await eventually(`gateway ${gw} to accept the new session`, async () => (await me(again.token, gw)).status === 200, {
          timeoutMs: EVENT_BOUND_MS,
          intervalMs: 50,
        });
      }
      // The sessions revoked by the disable stay revoked.
      expect((await me(a.token, url)).status).toBe(401);
    });
  });
}
