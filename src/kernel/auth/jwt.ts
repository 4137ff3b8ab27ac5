import { SignJWT, jwtVerify, errors as joseErrors } from "jose";
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
 * Signs an HS256 JWT (RFC 7519) with `sub` = account id and a `roles` claim.
 * @param ttlS lifetime in seconds.
 */
export async function signToken(secret: string, identity: Identity, ttlS: number): Promise<string> {
  return new SignJWT({ roles: identity.roles })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(identity.accountId)
    .setIssuer(JWT_ISSUER)
    .setAudience(JWT_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${ttlS}s`)
    .sign(keyFor(secret));
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

/**
 * Verifies signature (HS256 only), expiry, issuer and audience. A token verified before with
 * the same secret is accepted again from a bounded cache for up to
 * {@link VERIFIED_TOKEN_TTL_MS}, and never at or after its `exp`; rejections are not cached.
 * @returns a fresh {@link Identity} (the caller may keep or change it).
 * @throws InvalidTokenError with a short reason (`expired`, `invalid signature`, ...).
 */
export async function verifyToken(secret: string, token: string): Promise<Identity> {
  const hit = verified.get(token);
  // Same secret: a rotated secret must not keep accepting tokens signed with the old one.
  if (hit && hit.secret === secret && Date.now() < hit.untilMs) return { accountId: hit.accountId, roles: [...hit.roles] };
  try {
    const { payload } = await jwtVerify(token, keyFor(secret), {
      algorithms: ["HS256"],
      issuer: JWT_ISSUER,
      audience: JWT_AUDIENCE,
    });
    if (typeof payload.sub !== "string" || !payload.sub) throw new InvalidTokenError("token has no subject");
    const roles = Array.isArray(payload["roles"]) ? payload["roles"].filter((r): r is string => typeof r === "string") : [];
    // jose rejects a token once now >= exp (no clock tolerance): the cached entry ends there too.
    const expMs = typeof payload.exp === "number" ? payload.exp * 1000 : Infinity;
    verified.set(token, { secret, accountId: payload.sub, roles: [...roles], untilMs: Math.min(expMs, Date.now() + VERIFIED_TOKEN_TTL_MS) });
    return { accountId: payload.sub, roles };
  } catch (err) {
    if (err instanceof InvalidTokenError) throw err;
    if (err instanceof joseErrors.JWTExpired) throw new InvalidTokenError("token expired");
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) throw new InvalidTokenError("invalid token signature");
    throw new InvalidTokenError("invalid token");
  }
}
