/**
 * Operations endpoints off the public listener, in every topology: `/metrics` and `/admin/*` are
 * served on each process's operations listener (OPS_HOST:OPS_PORT) and answer 404 on the public
 * port; `/admin/*` needs a token with the admin role (401 UNAUTHENTICATED without or with a bad
 * token, 403 FORBIDDEN for a customer's); `/health/*` stays public for probes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SignJWT } from "jose";
import { JWT_AUDIENCE, JWT_ISSUER, signToken } from "../../src/kernel/auth/jwt.ts";
import { opsUrlOf, type SplitTopology } from "../../scripts/split-topology.ts";
import { adminAuth } from "../helpers/admin.ts";
import { selectedTopologies, TOPOLOGIES, type Topology } from "../helpers/topology.ts";
import { newAccount } from "../e2e/flows.ts";

const ADMIN_PATHS = ["/admin/health", "/admin/supergraph"];

interface Refusal {
  errors?: { message: string; extensions?: { code?: string; requestId?: string } }[];
}

/** A token signed correctly but expired a minute ago, with the admin role. */
async function expiredAdminToken(secret: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ roles: ["admin"] })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject("ops-expired")
    .setIssuer(JWT_ISSUER)
    .setAudience(JWT_AUDIENCE)
    .setIssuedAt(now - 120)
    .setExpirationTime(now - 60)
    .sign(new TextEncoder().encode(secret));
}

async function refusal(res: Response): Promise<{ status: number; code: string | undefined }> {
  const body = (await res.json()) as Refusal;
  expect(body.errors?.[0]?.extensions?.requestId).toBe(res.headers.get("x-request-id") ?? "missing");
  return { status: res.status, code: body.errors?.[0]?.extensions?.code };
}

for (const name of selectedTopologies()) {
  describe(`operations endpoints [${name}]`, () => {
    let t: Topology;
    beforeAll(async () => {
      const start = TOPOLOGIES[name];
      if (!start) throw new Error(`unknown topology ${name}`);
      t = await start();
    }, 120_000);
    afterAll(async () => {
      await t?.stop();
    });

    test("the public port answers 404 for /metrics and /admin/*, 200 for /health/*", async () => {
      for (const path of ["/metrics", ...ADMIN_PATHS, "/admin/stats"]) {
        const res = await fetch(`${t.baseUrl}${path}`, { headers: await adminAuth(t) });
        expect([path, res.status]).toEqual([path, 404]);
        expect(await res.text()).not.toContain("type Query");
      }
      for (const path of ["/health/live", "/health/ready"]) expect((await fetch(`${t.baseUrl}${path}`)).status).toBe(200);
    });

    test("the startup log prints the ops URL; /metrics is served there without a token", async () => {
      expect(t.output()).toContain(`ops endpoints on ${t.opsUrl}`);
      const res = await fetch(`${t.opsUrl}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("switchyard_http_request_duration_seconds");
    });

    test("/admin/*: 401 without a token, with a forged or expired one or one of no account; 403 for a customer; 200 for an admin", async () => {
      const customer = await newAccount(t.graphqlUrl, "Ops Customer");
      const forged = await signToken("another-secret-another-secret-another-secret", { accountId: "x", roles: ["admin"] }, 600);
      // Signed right, admin role, but no such account: the gateway's session guard refuses it, as on /graphql.
      const ghost = await signToken(t.jwtSecret, { accountId: "no-such-account", roles: ["customer", "admin"] }, 600);
      for (const path of ADMIN_PATHS) {
        const url = `${t.opsUrl}${path}`;
        expect(await refusal(await fetch(url))).toEqual({ status: 401, code: "UNAUTHENTICATED" });
        expect(await refusal(await fetch(url, { headers: { authorization: "Basic YWRtaW46YWRtaW4=" } }))).toEqual({
          status: 401,
          code: "UNAUTHENTICATED",
        });
        expect(await refusal(await fetch(url, { headers: { authorization: `Bearer ${forged}` } }))).toEqual({
          status: 401,
          code: "UNAUTHENTICATED",
        });
        expect(await refusal(await fetch(url, { headers: { authorization: `Bearer ${await expiredAdminToken(t.jwtSecret)}` } }))).toEqual({
          status: 401,
          code: "UNAUTHENTICATED",
        });
        expect(await refusal(await fetch(url, { headers: { authorization: `Bearer ${customer.token}` } }))).toEqual({
          status: 403,
          code: "FORBIDDEN",
        });
        expect(await refusal(await fetch(url, { headers: { authorization: `Bearer ${ghost}` } }))).toEqual({
          status: 401,
          code: "UNAUTHENTICATED",
        });
        expect((await fetch(url, { headers: await adminAuth(t) })).status).toBe(200);
      }
    });

    test("/admin/supergraph hands the SDL only to an admin", async () => {
      const anonymous = await (await fetch(`${t.opsUrl}/admin/supergraph`)).text();
      expect(anonymous).not.toContain("type Query");
      const admin = (await (await fetch(`${t.opsUrl}/admin/supergraph`, { headers: await adminAuth(t) })).json()) as { sdl: string };
      expect(admin.sdl).toContain("type Query");
    });

    if (name === "split") {
      test("every module process: probes on its PORT, /metrics and token-guarded /admin/* on its own ops listener", async () => {
        const split = (t as Topology & { split: SplitTopology }).split;
        const modules = split.processes.filter((p) => p.part !== "gateway");
        expect(modules.length).toBeGreaterThanOrEqual(4);
        for (const p of modules) {
          const probe = /health endpoints on (http:\/\/[^/\s"]+)/.exec(p.server.output())?.[1];
          if (!probe) throw new Error(`no probe URL in the output of ${p.name}`);
          expect((await fetch(`${probe}/health/ready`)).status).toBe(200);
          for (const path of ["/metrics", "/admin/health", "/admin/stats"]) expect((await fetch(`${probe}${path}`)).status).toBe(404);
          const ops = opsUrlOf(p);
          expect(ops).not.toBe(probe);
          expect((await fetch(`${ops}/metrics`)).status).toBe(200);
          for (const path of ["/admin/health", "/admin/stats"]) {
            expect(await refusal(await fetch(`${ops}${path}`))).toEqual({ status: 401, code: "UNAUTHENTICATED" });
            const ok = await fetch(`${ops}${path}`, { headers: await adminAuth(t) });
            expect(ok.status).toBe(200);
            expect(((await ok.json()) as { modules: string[] }).modules).toEqual([p.part]);
          }
        }
      }, 60_000);
    }
  });
}
