/**
 * Bus subjects the account module serves (request/reply), besides its subgraph on
 * `graphql.account`. Other modules reach accounts through federation (`Account` entity) and
 * the events in `events.ts`; the gateway asks {@link AccountSubjects.sessionCheck}.
 */
export const AccountSubjects = {
  /**
   * Whether an access token's account (and session) may still be used: the gateway asks it
   * (and caches the answer briefly) before running any operation of a token.
   * Request {@link SessionCheckRequest} → reply {@link SessionCheckReply}. Read-only.
   */
  sessionCheck: "account.session.check",
} as const;

export interface SessionCheckRequest {
  /** JWT `sub`. */
  accountId: string;
  /** JWT `sid`, when the token has one. */
  sessionId?: string;
}

/** Why a token may not be used. */
export type SessionRefusal = "account_missing" | "account_disabled" | "session_revoked";

export interface SessionCheckReply {
  /** True when the account exists, is enabled, and the session (if any) is not revoked. */
  active: boolean;
  /** Set when `active` is false. */
  reason?: SessionRefusal;
}
