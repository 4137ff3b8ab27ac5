/**
 * The caller's identity as the gateway established it from the JWT. The gateway forwards it
 * to subgraphs in the {@link IDENTITY_HEADER} bus header; modules trust only that header and
 * never parse tokens themselves.
 */
export interface Identity {
  /** Account id (JWT `sub`). */
  accountId: string;
  /** Roles, e.g. `["customer"]`. */
  roles: string[];
  /**
   * Session (refresh-token family) the access token belongs to (JWT `sid`); `logout` revokes
   * it. Absent for tokens minted without a session.
   */
  sessionId?: string;
}

/** Bus header carrying the JSON-encoded {@link Identity}. Absent for anonymous callers. */
export const IDENTITY_HEADER = "sy-identity";
/** Bus header carrying the request id assigned at the gateway edge (or by the caller). */
export const REQUEST_ID_HEADER = "sy-request-id";

/** Encodes an identity for {@link IDENTITY_HEADER}. */
export function encodeIdentity(identity: Identity): string {
  return JSON.stringify({ accountId: identity.accountId, roles: identity.roles, ...(identity.sessionId ? { sessionId: identity.sessionId } : {}) });
}

/** Decodes {@link IDENTITY_HEADER}; returns null when absent or malformed (treated as anonymous). */
export function decodeIdentity(header: string | undefined): Identity | null {
  if (!header) return null;
  try {
    const v = JSON.parse(header) as { accountId?: unknown; roles?: unknown; sessionId?: unknown };
    if (typeof v.accountId !== "string" || !v.accountId) return null;
    const roles = Array.isArray(v.roles) ? v.roles.filter((r): r is string => typeof r === "string") : [];
    return typeof v.sessionId === "string" && v.sessionId ? { accountId: v.accountId, roles, sessionId: v.sessionId } : { accountId: v.accountId, roles };
  } catch {
    return null;
  }
}
