/** Events the account module publishes (pub/sub subjects and payloads). */
export const AccountEvents = {
  /** An account was created. Payload {@link AccountRegisteredEvent}. */
  registered: "account.registered",
  /**
   * An admin disabled an account: every session of it is revoked, and gateways drop what they
   * cached about it (its access tokens are refused from then on). Payload {@link AccountStatusEvent}.
   */
  disabled: "account.disabled",
  /** An admin enabled a disabled account again (new logins work). Payload {@link AccountStatusEvent}. */
  enabled: "account.enabled",
  /**
   * One session (refresh-token family) was revoked: logout, or reuse of a rotated refresh
   * token. Gateways refuse its access tokens from then on. Payload {@link SessionRevokedEvent}.
   */
  sessionRevoked: "account.session_revoked",
} as const;

export interface AccountRegisteredEvent {
  /** Event id (KSUID) for consumer deduplication. */
  eventId: string;
  /** Id (KSUID) of the new account. */
  accountId: string;
  /** Normalised e-mail (trimmed, lower case). */
  email: string;
  name: string;
  /** ISO-8601 UTC; when the account was created. */
  occurredAt: string;
}

/** Payload of `account.disabled` and `account.enabled`. */
export interface AccountStatusEvent {
  /** Event id (KSUID) for consumer deduplication. */
  eventId: string;
  accountId: string;
  /** ISO-8601 UTC; when the status changed. */
  occurredAt: string;
}

/** Payload of `account.session_revoked`. */
export interface SessionRevokedEvent {
  /** Event id (KSUID) for consumer deduplication. */
  eventId: string;
  accountId: string;
  /** The revoked session (JWT `sid` of its access tokens). */
  sessionId: string;
  /** Why: `logout` or `reuse` (a rotated refresh token was presented again). */
  reason: "logout" | "reuse";
  /** ISO-8601 UTC. */
  occurredAt: string;
}
