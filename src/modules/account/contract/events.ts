import { z } from "zod";
import { defineEvent, subjectsOf } from "../../../kernel/index.ts";

const accountRegisteredEvent = z.object({
  /** Event id (KSUID) for consumer deduplication. */
  eventId: z.string(),
  /** Id (KSUID) of the new account. */
  accountId: z.string(),
  /** Normalised e-mail (trimmed, lower case). */
  email: z.string(),
  name: z.string(),
  /** ISO-8601 UTC; when the account was created. */
  occurredAt: z.string(),
});
export type AccountRegisteredEvent = z.infer<typeof accountRegisteredEvent>;

/** Payload of `account.disabled` and `account.enabled`. */
const accountStatusEvent = z.object({
  /** Event id (KSUID) for consumer deduplication. */
  eventId: z.string(),
  accountId: z.string(),
  /** ISO-8601 UTC; when the status changed. */
  occurredAt: z.string(),
});
export type AccountStatusEvent = z.infer<typeof accountStatusEvent>;

/** Payload of `account.session_revoked`. */
const sessionRevokedEvent = z.object({
  /** Event id (KSUID) for consumer deduplication. */
  eventId: z.string(),
  accountId: z.string(),
  /** The revoked session (JWT `sid` of its access tokens). */
  sessionId: z.string(),
  /** Why: `logout` or `reuse` (a rotated refresh token was presented again). */
  reason: z.enum(["logout", "reuse"]),
  /** ISO-8601 UTC. */
  occurredAt: z.string(),
});
export type SessionRevokedEvent = z.infer<typeof sessionRevokedEvent>;

/** Events the account module publishes (through its transactional outbox). */
export const AccountEventTypes = {
  /** An account was created. */
  registered: defineEvent("account.registered", accountRegisteredEvent),
  /**
   * An admin disabled an account: every session of it is revoked, and gateways drop what they
   * cached about it (its access tokens are refused from then on).
   */
  disabled: defineEvent("account.disabled", accountStatusEvent),
  /** An admin enabled a disabled account again (new logins work). */
  enabled: defineEvent("account.enabled", accountStatusEvent),
  /**
   * One session (refresh-token family) was revoked: logout, or reuse of a rotated refresh
   * token. Gateways refuse its access tokens from then on.
   */
  sessionRevoked: defineEvent("account.session_revoked", sessionRevokedEvent),
};

/** Subjects of {@link AccountEventTypes}, by the same names. */
export const AccountEvents = subjectsOf(AccountEventTypes);
