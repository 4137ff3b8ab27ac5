import type { MiddlewareHandler } from "hono";
import type { Identity } from "../identity.ts";
import { InvalidTokenError, verifyToken } from "./jwt.ts";

/** Role a token needs for the operations endpoints under `/admin/*`. */
export const ADMIN_ROLE = "admin";

/** Why an `/admin/*` request was refused: HTTP status and stable `extensions.code`. */
export interface AdminRefusal {
  status: 401 | 403 | 503;
  code: "UNAUTHENTICATED" | "FORBIDDEN" | "SERVICE_UNAVAILABLE";
  message: string;
}

/**
 * A further check of a verified admin identity, e.g. the gateway's session guard (the account
 * exists, is not disabled, its session is not revoked): a refusal, or undefined to allow.
 */
export type AdminIdentityCheck = (identity: Identity) => Promise<AdminRefusal | undefined>;

/**
 * Checks `Authorization: Bearer <JWT>` for the admin endpoints: the token is verified as the
 * gateway verifies client tokens (kernel/auth/jwt.ts: HS256 with JWT_SECRET, issuer, audience,
 * expiry) and must carry the {@link ADMIN_ROLE} role; then `check` (when given) has the last word.
 * @returns undefined when allowed, else the refusal (401 no/invalid token, 403 not an admin,
 *   or what `check` answered).
 */
export async function checkAdminToken(
  header: string | null | undefined,
  secret: string,
  check?: AdminIdentityCheck,
): Promise<AdminRefusal | undefined> {
  const m = header ? /^Bearer\s+(\S+)$/i.exec(header.trim()) : null;
  if (!m?.[1])
    return { status: 401, code: "UNAUTHENTICATED", message: "admin endpoints need Authorization: Bearer <token of an admin account>" };
  try {
    const identity = await verifyToken(secret, m[1]);
    if (!identity.roles.includes(ADMIN_ROLE)) return { status: 403, code: "FORBIDDEN", message: "admin role required" };
    return check ? await check(identity) : undefined;
  } catch (err) {
    return { status: 401, code: "UNAUTHENTICATED", message: err instanceof InvalidTokenError ? err.message : "invalid token" };
  }
}

/**
 * Hono middleware refusing requests without an admin token (see {@link checkAdminToken}) with
 * a GraphQL-shaped JSON body `{ errors: [{ message, extensions: { code, requestId } }] }`, the
 * same shape as the gateway's 401 on `/graphql`.
 */
export function requireAdminToken(secret: string, check?: AdminIdentityCheck): MiddlewareHandler {
  return async (c, next) => {
    const refusal = await checkAdminToken(c.req.header("authorization"), secret, check);
    if (!refusal) return next();
    const requestId = (c.get("requestId") as string | undefined) ?? null;
    const headers: Record<string, string> = refusal.status === 401 ? { "www-authenticate": 'Bearer realm="switchyard-admin"' } : {};
    return c.json({ errors: [{ message: refusal.message, extensions: { code: refusal.code, requestId } }] }, refusal.status, headers);
  };
}
