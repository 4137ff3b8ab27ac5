import { describe, expect, test } from "bun:test";
import { SignJWT } from "jose";
import { InvalidTokenError, JWT_AUDIENCE, JWT_ISSUER, signToken, tokenExpiresAtMs, verifyToken } from "../../src/kernel/auth/jwt.ts";
import { authenticate } from "../../src/gateway/auth.ts";

const SECRET = "jwt-claims-test-secret-jwt-claims-test-secret";
const key = new TextEncoder().encode(SECRET);

/** A correctly signed token with the claims we choose (what someone holding the secret, or an old issuer, could mint). */
const mint = (opts: { exp?: number | string; sid?: string } = {}): Promise<string> => {
  let jwt = new SignJWT({ roles: ["customer"], ...(opts.sid ? { sid: opts.sid } : {}) })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject("acc-claims")
    .setIssuer(JWT_ISSUER)
    .setAudience(JWT_AUDIENCE)
    .setIssuedAt();
  if (opts.exp !== undefined) jwt = jwt.setExpirationTime(opts.exp);
  return jwt.sign(key);
};

describe("access-token claims", () => {
  test("a validly signed token without exp is refused (it would be valid forever)", async () => {
    const forever = await mint();
    await expect(verifyToken(SECRET, forever)).rejects.toBeInstanceOf(InvalidTokenError);
    await expect(verifyToken(SECRET, forever)).rejects.toThrow("token has no expiry");
    expect(await authenticate(`Bearer ${forever}`, SECRET)).toEqual({ ok: false, reason: "token has no expiry" });
    // The same token with an exp is accepted: only the missing claim is refused.
    expect((await verifyToken(SECRET, await mint({ exp: "60s" }))).accountId).toBe("acc-claims");
  });

  test("signToken stamps exp, jti and sid; verifyToken returns the sid as sessionId", async () => {
    const before = Date.now();
    const token = await signToken(SECRET, { accountId: "acc-s", roles: ["customer"], sessionId: "sess-1" }, 900);
    const claims = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()) as Record<string, unknown>;
    expect(claims).toMatchObject({ sub: "acc-s", sid: "sess-1", roles: ["customer"] });
    expect(typeof claims["jti"]).toBe("string");
    expect(Math.abs((tokenExpiresAtMs(token) ?? 0) - (before + 900_000))).toBeLessThan(2000);
    expect(await verifyToken(SECRET, token)).toEqual({ accountId: "acc-s", roles: ["customer"], sessionId: "sess-1" });
    // Twice the same identity: distinct tokens (jti).
    expect(await signToken(SECRET, { accountId: "acc-s", roles: [] }, 900)).not.toBe(
      await signToken(SECRET, { accountId: "acc-s", roles: [] }, 900),
    );
    expect(tokenExpiresAtMs("not a token")).toBeUndefined();
  });
});
