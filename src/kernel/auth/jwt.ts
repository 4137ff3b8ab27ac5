import { SignJWT, jwtVerify, errors as joseErrors } from "jose";
import type { Identity } from "../identity.ts";

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

/**
 * Verifies signature (HS256 only), expiry, issuer and audience.
 * @throws InvalidTokenError with a short reason (`expired`, `invalid signature`, ...).
 */
export async function verifyToken(secret: string, token: string): Promise<Identity> {
  try {
    const { payload } = await jwtVerify(token, keyFor(secret), {
      algorithms: ["HS256"],
      issuer: JWT_ISSUER,
      audience: JWT_AUDIENCE,
    });
    if (typeof payload.sub !== "string" || !payload.sub) throw new InvalidTokenError("token has no subject");
    const roles = Array.isArray(payload["roles"]) ? payload["roles"].filter((r): r is string => typeof r === "string") : [];
    return { accountId: payload.sub, roles };
  } catch (err) {
    if (err instanceof InvalidTokenError) throw err;
    if (err instanceof joseErrors.JWTExpired) throw new InvalidTokenError("token expired");
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) throw new InvalidTokenError("invalid token signature");
    throw new InvalidTokenError("invalid token");
  }
}
