import { afterEach, describe, expect, setSystemTime, test } from "bun:test";
import { InvalidTokenError, signToken, verifyToken, VERIFIED_TOKEN_TTL_MS } from "../../src/kernel/auth/jwt.ts";

const SECRET = "jwt-cache-test-secret-jwt-cache-test-secret";

describe("verifyToken: the verified-token cache", () => {
  afterEach(() => setSystemTime());

  test("a cached token still expires at its exp", async () => {
    const start = Date.now();
    setSystemTime(new Date(start));
    const token = await signToken(SECRET, { accountId: "acc-1", roles: ["customer"] }, 5);
    expect(await verifyToken(SECRET, token)).toEqual({ accountId: "acc-1", roles: ["customer"] });
    // Within exp: served (from the cache or not, the same identity).
    setSystemTime(new Date(start + 3000));
    expect((await verifyToken(SECRET, token)).accountId).toBe("acc-1");
    // At or past exp: rejected although it was verified before.
    setSystemTime(new Date(start + 6000));
    await expect(verifyToken(SECRET, token)).rejects.toBeInstanceOf(InvalidTokenError);
  });

  test("a token verified with one secret is not accepted with another", async () => {
    const token = await signToken(SECRET, { accountId: "acc-2", roles: [] }, 60);
    expect((await verifyToken(SECRET, token)).accountId).toBe("acc-2");
    await expect(verifyToken(`${SECRET}-rotated`, token)).rejects.toBeInstanceOf(InvalidTokenError);
  });

  test("each call returns a fresh identity (a caller changing it does not change the next)", async () => {
    const token = await signToken(SECRET, { accountId: "acc-3", roles: ["admin"] }, 60);
    const first = await verifyToken(SECRET, token);
    first.roles.push("tampered");
    (first as { accountId: string }).accountId = "someone-else";
    expect(await verifyToken(SECRET, token)).toEqual({ accountId: "acc-3", roles: ["admin"] });
  });

  test("rejections are not cached; a tampered token is rejected even after the real one was cached", async () => {
    const token = await signToken(SECRET, { accountId: "acc-4", roles: [] }, 60);
    await verifyToken(SECRET, token);
    const [h, p, sig] = token.split(".") as [string, string, string];
    const forged = `${h}.${p}.${sig.slice(0, -2)}${sig.endsWith("AA") ? "BB" : "AA"}`;
    await expect(verifyToken(SECRET, forged)).rejects.toBeInstanceOf(InvalidTokenError);
    await expect(verifyToken(SECRET, "not-a-token")).rejects.toBeInstanceOf(InvalidTokenError);
  });

  test("a long-lived token is verified again after the cache TTL (same result)", async () => {
    const start = Date.now();
    setSystemTime(new Date(start));
    const token = await signToken(SECRET, { accountId: "acc-5", roles: [] }, 3600);
    await verifyToken(SECRET, token);
    setSystemTime(new Date(start + VERIFIED_TOKEN_TTL_MS + 1000));
    expect((await verifyToken(SECRET, token)).accountId).toBe("acc-5");
  });
});
