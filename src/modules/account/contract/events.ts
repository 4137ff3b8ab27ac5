/** Events the account module publishes (pub/sub subjects and payloads). */
export const AccountEvents = {
  /** An account was created. Payload {@link AccountRegisteredEvent}. */
  registered: "account.registered",
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
