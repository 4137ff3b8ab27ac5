import { describe, expect, test } from "bun:test";
import { authenticateRequest } from "../../src/gateway/auth.ts";
import { signToken } from "../../src/kernel/auth/jwt.ts";

const SECRET = "auth-request-secret-auth-request-secret-0123";

describe("authenticateRequest", () => {
  test("verifies a request's token once: the rate limiter and the route share the result", async () => {
    const token = await signToken(SECRET, { accountId: "acc1", roles: ["customer"] }, 60);
    const req = new Request("http://x/graphql", { headers: { authorization: `Bearer ${token}` } });
    const first = authenticateRequest(req, SECRET);
    expect(authenticateRequest(req, SECRET)).toBe(first);
    expect(await first).toEqual({ ok: true, identity: { accountId: "acc1", roles: ["customer"] } });
    // Another request with the same header is verified on its own.
    expect(authenticateRequest(new Request("http://x/graphql", { headers: { authorization: `Bearer ${token}` } }), SECRET)).not.toBe(first);
  });

  test("a forged token is rejected; no header is anonymous", async () => {
    expect((await authenticateRequest(new Request("http://x", { headers: { authorization: "Bearer nope" } }), SECRET)).ok).toBe(false);
    expect(await authenticateRequest(new Request("http://x"), SECRET)).toEqual({ ok: true, identity: null });
  });
});
