/**
 * The caller's identity as the gateway established it from the JWT. The gateway forwards it
 * to subgraphs in the {@link IDENTITY_HEADER} bus header, signed with the bus signing key
 * (`bus-identity.ts`); modules accept only a valid signature and never parse tokens themselves.
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

/**
 * Bus header carrying the signed {@link Identity} (`v1.<payload>.<mac>`, see `bus-identity.ts`).
 * Absent for anonymous callers; present but not validly signed, expired or bound to another
 * request id: the subgraph refuses the request with UNAUTHENTICATED.
 */
export const IDENTITY_HEADER = "sy-identity";
/** Bus header carrying the request id assigned at the gateway edge (or by the caller). */
export const REQUEST_ID_HEADER = "sy-request-id";
