import { SignJWT, decodeJwt, jwtVerify, errors as joseErrors } from "jose";
import type { Identity } from "../identity.ts";
import { Lru } from "../subgraph/lru.ts";

/** Issuer and audience stamped on and required from every token. */
export const JWT_ISSUER = "switchyard";
export const JWT_AUDIENCE = "switchyard-api";

const keys = new Map<string, Uint8Array>();
const keyFor = (secret: string): Uint8Array => {
  let k = keys.get(secret);
  if (!k) keys.set(secret, (k = new TextEncoder().encode(secret)));
  return k;
};

/**
 * Signs an HS256 JWT (RFC 7519) with `sub` = account id, a `roles` claim, `exp` = now + `ttlS`,
 * a random `jti`, and `sid` = `identity.sessionId` when given (the refresh-token family the
 * token belongs to: `logout` and `disableAccount` revoke it, and the gateway refuses revoked ones).
 * @param ttlS lifetime in seconds (> 0).
 */
export async function signToken(secret: string, identity: Identity, ttlS: number): Promise<string> {
  const claims: Record<string, unknown> = { roles: identity.roles };
  if (identity.sessionId) claims["sid"] = identity.sessionId;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(identity.accountId)
    .setIssuer(JWT_ISSUER)
    .setAudience(JWT_AUDIENCE)
    .setJti(crypto.randomUUID())
    .setIssuedAt()
    .setExpirationTime(`${ttlS}s`)
    .sign(keyFor(secret));
}

/** When a token expires, ms since the epoch (its `exp`), without verifying it; undefined when it has none. */
export function tokenExpiresAtMs(token: string): number | undefined {
  try {
    const exp = decodeJwt(token).exp;
    return typeof exp === "number" ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** Why a token was rejected, for the `UNAUTHENTICATED` error message. */
export class InvalidTokenError extends Error {
  override readonly name = "InvalidTokenError";
}

/** A verified token's identity, reusable until `untilMs` (ms since the epoch). */
interface VerifiedToken {
  secret: string;
  accountId: string;
  roles: readonly string[];
  sessionId: string | undefined;
  untilMs: number;
}

/**
 * How long a verified token is reused without verifying it again, ms, at most (never past its
 * `exp`). Verification (HMAC + claims, with jose's per-call key import) was ~4% of the CPU of
 * a createOrder; a client sends the same token with every request.
 */
export const VERIFIED_TOKEN_TTL_MS = 60_000;
/** Verified tokens remembered (LRU): bounded so that many distinct tokens cannot grow memory. */
const VERIFIED_TOKENS = 10_000;
const verified = new Lru<string, VerifiedToken>(VERIFIED_TOKENS);

/** A fresh identity from a verified token's claims (the caller may keep or change it). */
const identityOf = (accountId: string, roles: readonly string[], sessionId: string | undefined): Identity =>
  sessionId ? { accountId, roles: [...roles], sessionId } : { accountId, roles: [...roles] };

/**
 * Verifies signature (HS256 only), expiry, issuer and audience, and requires `exp`: a token
 * without one would be valid forever, so it is refused (`token has no expiry`). A token verified before with
 * the same secret is accepted again from a bounded cache for up to
 * {@link VERIFIED_TOKEN_TTL_MS}, and never at or after its `exp`; rejections are not cached.
 * @returns a fresh {@link Identity} (the caller may keep or change it).
 * @throws InvalidTokenError with a short reason (`expired`, `invalid signature`, ...).
 */
export async function verifyToken(secret: string, token: string): Promise<Identity> {
  const hit = verified.get(token);
  // Same secret: a rotated secret must not keep accepting tokens signed with the old one.
  if (hit && hit.secret === secret && Date.now() < hit.untilMs) return identityOf(hit.accountId, hit.roles, hit.sessionId);
  try {
    const { payload } = await jwtVerify(token, keyFor(secret), {
      algorithms: ["HS256"],
      issuer: JWT_ISSUER,
      audience: JWT_AUDIENCE,
      requiredClaims: ["exp"],
    });
    if (typeof payload.sub !== "string" || !payload.sub) throw new InvalidTokenError("token has no subject");
    // jose checks exp's type and value once it is present; requiredClaims makes it present.
    if (typeof payload.exp !== "number") throw new InvalidTokenError("token has no expiry");
    const roles = Array.isArray(payload["roles"]) ? payload["roles"].filter((r): r is string => typeof r === "string") : [];
    const sid = typeof payload["sid"] === "string" && payload["sid"] ? payload["sid"] : undefined;
    // jose rejects a token once now >= exp (no clock tolerance): the cached entry ends there too.
    verified.set(token, {
      secret,
      accountId: payload.sub,
      roles: [...roles],
      sessionId: sid,
      untilMs: Math.min(payload.exp * 1000, Date.now() + VERIFIED_TOKEN_TTL_MS),
    });
    return identityOf(payload.sub, roles, sid);
  } catch (err) {
    if (err instanceof InvalidTokenError) throw err;
    if (err instanceof joseErrors.JWTExpired) throw new InvalidTokenError("token expired");
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) throw new InvalidTokenError("invalid token signature");
    if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === "exp") throw new InvalidTokenError("token has no expiry");
    throw new InvalidTokenError("invalid token");
  }
}
