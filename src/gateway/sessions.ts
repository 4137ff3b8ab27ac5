import type { Bus, Subscription } from "../kernel/bus/types.ts";
import { requestJson } from "../kernel/bus/rpc.ts";
import { AppError } from "../kernel/errors.ts";
import { createCallPolicy } from "../kernel/policy/index.ts";
import type { Identity } from "../kernel/identity.ts";
import type { Logger } from "../kernel/logger.ts";

/**
 * Subjects of the account module the session guard uses. The gateway learns subjects as
 * strings, like subgraphs: it imports no module (a test checks they match the account contract).
 */
export const SESSION_SUBJECTS = {
  /** Request `{ accountId, sessionId? }` → reply `{ active, reason? }`. */
  check: "account.session.check",
  /** Events after which this gateway forgets what it cached about an account. */
  events: ["account.disabled", "account.enabled", "account.session_revoked"],
} as const;

/** The account module's answer to a session check. */
interface CheckReply {
  active: boolean;
  reason?: string;
}

/** Whether a verified token may be used now. */
export type SessionVerdict =
  | { ok: true }
  /** 401 `UNAUTHENTICATED` (account missing or disabled, session revoked). */
  | { ok: false; status: 401; code: "UNAUTHENTICATED"; reason: string }
  /** 503 `SERVICE_UNAVAILABLE`: the account module did not answer and the token was never seen active (fail closed). */
  | { ok: false; status: 503; code: "SERVICE_UNAVAILABLE"; reason: string };

/** Checks that a token's account exists and is enabled and its session is not revoked. */
export interface SessionGuard {
  /** @returns the verdict; never throws (a bus failure is a 503 verdict). */
  check(identity: Identity): Promise<SessionVerdict>;
  /** Unsubscribes from the account events. */
  stop(): void;
}

/** Options of {@link createSessionGuard}. */
export interface SessionGuardOptions {
  bus: Bus;
  logger: Logger;
  /** How long an answer is reused, ms (0 = ask every time): the bound for a gateway that missed an event. */
  ttlMs: number;
  /** Accounts whose answers are kept (LRU), entries. */
  max: number;
  /** Timeout of one check over the bus, ms. */
  timeoutMs: number;
}

interface Answer {
  reply: CheckReply;
  untilMs: number;
}

/** Sessions remembered per account (a client rarely holds more); the oldest is forgotten first. */
const SESSIONS_PER_ACCOUNT = 16;

const REASONS: Record<string, string> = {
  account_missing: "the token's account does not exist",
  account_disabled: "the token's account is disabled",
  session_revoked: "the token's session was revoked (logged out)",
};

/**
 * The gateway's session guard: before any operation of a verified token runs, asks the account
 * module (`account.session.check`) whether the token's account exists and is enabled and its
 * session (`sid`) is not revoked; so a token for a missing account, a disabled account or a
 * logged-out session is refused before any module writes anything.
 *
 * Answers (both kinds) are cached per account and session for `ttlMs` in a bounded LRU, and
 * concurrent checks of one key share one request. `account.disabled`, `account.enabled` and
 * `account.session_revoked` (core bus subscription, so every gateway gets them) drop the
 * account's cached answers at once; a gateway that missed the event refuses within `ttlMs`.
 * An answer fetched while such an event arrived is used once but not cached.
 *
 * When the account module does not answer (down, partitioned), a token this gateway last saw
 * active keeps working on that stale answer (retried after `ttlMs`), so an account outage does
 * not take every other subgraph down with it; a token never seen active is refused (503
 * `SERVICE_UNAVAILABLE`). Revocations need the account module anyway: a disable committed just
 * before it went down takes effect when it is back (its outbox relays the event).
 */
export function createSessionGuard(opts: SessionGuardOptions): SessionGuard {
  const accounts = new Map<string, Map<string, Answer>>();
  const inflight = new Map<string, Promise<CheckReply>>();
  // Bumped by every event: a check that started before it may carry the old state.
  let epoch = 0;

  const forget = (accountId: string): void => {
    accounts.delete(accountId);
    epoch++;
  };
  const cachedAnswer = (accountId: string, sid: string): Answer | undefined => accounts.get(accountId)?.get(sid);
  let lastFailureLog = 0;
  const remember = (accountId: string, sid: string, answer: Answer): void => {
    let sessions = accounts.get(accountId);
    if (sessions) accounts.delete(accountId);
    else sessions = new Map();
    accounts.set(accountId, sessions); // most recent last
    if (accounts.size > opts.max) accounts.delete(accounts.keys().next().value as string);
    sessions.delete(sid);
    sessions.set(sid, answer);
    if (sessions.size > SESSIONS_PER_ACCOUNT) sessions.delete(sessions.keys().next().value as string);
  };

  const subscriptions: Subscription[] = SESSION_SUBJECTS.events.map((subject) =>
    opts.bus.subscribe(subject, (msg) => {
      let accountId: unknown;
      try {
        accountId = msg.json<{ accountId?: unknown }>().accountId;
      } catch {
        accountId = undefined;
      }
      if (typeof accountId === "string") forget(accountId);
      else {
        // Unreadable: forget everything rather than keep a possibly revoked answer.
        opts.logger.warn({ subject }, "session guard: undecodable account event; clearing the cache");
        accounts.clear();
        epoch++;
      }
    }),
  );

  // The one call policy: breaker `subject:account.session.check` (a dead account module fails
  // fast into the stale-if-error path below) and the call metrics; not retried, since that path
  // already answers from the last known state.
  const policy = createCallPolicy({ target: `subject:${SESSION_SUBJECTS.check}`, isAnswer: (err) => err instanceof AppError });
  const ask = (accountId: string, sid: string): Promise<CheckReply> => {
    const key = `${accountId}\n${sid}`;
    let p = inflight.get(key);
    if (!p) {
      const startEpoch = epoch;
      p = policy
        .execute(
          ({ timeoutMs }) =>
            requestJson<CheckReply>(opts.bus, SESSION_SUBJECTS.check, sid ? { accountId, sessionId: sid } : { accountId }, { timeoutMs }),
          { timeoutMs: opts.timeoutMs },
        )
        .then((reply) => {
          if (opts.ttlMs > 0 && epoch === startEpoch) remember(accountId, sid, { reply, untilMs: Date.now() + opts.ttlMs });
          return reply;
        })
        .finally(() => inflight.delete(key));
      inflight.set(key, p);
    }
    return p;
  };

  return {
    async check(identity) {
      const sid = identity.sessionId ?? "";
      const cached = cachedAnswer(identity.accountId, sid);
      let reply: CheckReply;
      if (cached && Date.now() < cached.untilMs) reply = cached.reply;
      else {
        const startEpoch = epoch;
        try {
          reply = await ask(identity.accountId, sid);
        } catch (err) {
          const now = Date.now();
          if (now - lastFailureLog > 10_000) {
            lastFailureLog = now;
            opts.logger.warn({ err }, "session check failed (account module unreachable); using last answers, refusing unknown tokens");
          }
          // Stale-if-error, only for an answer no event has dropped since.
          const stale = epoch === startEpoch ? cachedAnswer(identity.accountId, sid) : undefined;
          if (!stale?.reply.active)
            return { ok: false, status: 503, code: "SERVICE_UNAVAILABLE", reason: "cannot check the token's account right now; retry" };
          remember(identity.accountId, sid, { reply: stale.reply, untilMs: now + opts.ttlMs });
          reply = stale.reply;
        }
      }
      if (reply.active) return { ok: true };
      return { ok: false, status: 401, code: "UNAUTHENTICATED", reason: REASONS[reply.reason ?? ""] ?? "the token is no longer valid" };
    },
    stop() {
      for (const s of subscriptions) s.unsubscribe();
    },
  };
}
