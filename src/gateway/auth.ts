import { verifyToken, InvalidTokenError } from "../kernel/auth/jwt.ts";
import type { Identity } from "../kernel/identity.ts";

/** Outcome of reading `Authorization`: anonymous, a verified identity, or a rejected token. */
export type AuthResult = { ok: true; identity: Identity | null } | { ok: false; reason: string };

/**
 * Verifies `Authorization: Bearer <jwt>` (HS256, see kernel/auth/jwt.ts). No header means
 * anonymous; a malformed header or an invalid/expired token is rejected (the caller answers
 * 401 `UNAUTHENTICATED`) rather than silently downgraded to anonymous.
 */
export async function authenticate(header: string | undefined | null, secret: string): Promise<AuthResult> {
  if (!header) return { ok: true, identity: null };
  const m = /^Bearer\s+(\S+)$/i.exec(header.trim());
  if (!m?.[1]) return { ok: false, reason: 'Authorization header must be "Bearer <token>"' };
  try {
    return { ok: true, identity: await verifyToken(secret, m[1]) };
  } catch (err) {
    return { ok: false, reason: err instanceof InvalidTokenError ? err.message : "invalid token" };
  }
}

const perRequest = new WeakMap<Request, Promise<AuthResult>>();

/**
 * {@link authenticate} of a request's `Authorization` header, verified once per request: the
 * rate limiter (to key by account) and the `/graphql` route both need it, and a JWT signature
 * check per use would be paid twice on the hot path. Keyed weakly by the Request object.
 */
export function authenticateRequest(req: Request, secret: string): Promise<AuthResult> {
  let auth = perRequest.get(req);
  if (!auth) perRequest.set(req, (auth = authenticate(req.headers.get("authorization"), secret)));
  return auth;
}
