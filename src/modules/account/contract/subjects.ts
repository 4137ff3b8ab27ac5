import { z } from "zod";
import { defineCommand, subjectsOf } from "../../../kernel/index.ts";

/**
 * Commands the account module serves (request/reply), besides its subgraph on
 * `graphql.account`. Other modules reach accounts through federation (`Account` entity) and
 * the events in `events.ts`; the gateway asks {@link AccountCommands.sessionCheck}.
 */

const sessionCheckRequest = z.object({
  /** JWT `sub`. */
  accountId: z.string(),
  /** JWT `sid`, when the token has one. */
  sessionId: z.string().optional(),
});
export type SessionCheckRequest = z.infer<typeof sessionCheckRequest>;

/** Why a token may not be used. */
const sessionRefusal = z.enum(["account_missing", "account_disabled", "session_revoked"]);
export type SessionRefusal = z.infer<typeof sessionRefusal>;

const sessionCheckReply = z.object({
  /** True when the account exists, is enabled, and the session (if any) is not revoked. */
  active: z.boolean(),
  /** Set when `active` is false. */
  reason: sessionRefusal.optional(),
});
export type SessionCheckReply = z.infer<typeof sessionCheckReply>;

/** The account module's commands. */
export const AccountCommands = {
  /**
   * Whether an access token's account (and session) may still be used: the gateway asks it
   * (and caches the answer briefly) before running any operation of a token. Read-only.
   */
  sessionCheck: defineCommand("account.session.check", { request: sessionCheckRequest, reply: sessionCheckReply }),
};

/** Subjects of {@link AccountCommands}, by the same names. */
export const AccountSubjects = subjectsOf(AccountCommands);
