import { createHash, randomBytes } from "node:crypto";
import {
  AppError,
  badInput,
  ErrorCode,
  forbidden,
  newId,
  notFound,
  outboxEntry,
  REQUEST_ID_HEADER,
  signToken,
  tokenExpiresAtMs,
  type Headers,
  type Identity,
} from "../../kernel/index.ts";
import {
  AccountEventTypes,
  type AccountRegisteredEvent,
  type AccountStatusEvent,
  type SessionCheckReply,
  type SessionCheckRequest,
  type SessionRevokedEvent,
} from "./contract/index.ts";
import type { AccountRecord, AccountStore } from "./storage/types.ts";
import { normaliseEmail, validateRegisterInput, type RegisterInput } from "./validation.ts";

/** Roles of a newly registered account. */
export const DEFAULT_ROLES: readonly string[] = ["customer"];
/** Role of administrators: the catalog's admin mutations require it, and it reads every account. */
export const ADMIN_ROLE = "admin";
/** Display name of an admin account created by {@link AccountService.ensureAdmin}. */
export const ADMIN_NAME = "Administrator";

/** What `register`, `login` and `refreshToken` return (GraphQL `AuthPayload`). */
export interface AuthPayload {
  /** Access token: HS256 JWT with `sub` = account id, `roles`, `sid` = session id, `exp`. */
  token: string;
  /** ISO-8601 UTC; the access token's `exp`. */
  expiresAt: string;
  /** Opaque single-use refresh token (only its SHA-256 is stored). */
  refreshToken: string;
  /** ISO-8601 UTC. */
  refreshTokenExpiresAt: string;
  account: AccountRecord;
}

export interface AccountServiceOptions {
  store: AccountStore;
  /** HS256 signing secret. */
  jwtSecret: string;
  /** Access-token lifetime, seconds. */
  jwtTtlS: number;
  /** Refresh-token lifetime, seconds (each rotation starts a new one). */
  refreshTokenTtlS: number;
}

/** Refresh tokens longer than this are refused without a lookup (ours are 43 characters). */
const REFRESH_TOKEN_MAX = 256;
/** Expired refresh tokens deleted per statement by {@link AccountService.pruneExpiredRefreshTokens}. */
export const PRUNE_BATCH = 1000;
/** A new refresh token: 256 random bits, base64url. */
const newRefreshToken = (): string => randomBytes(32).toString("base64url");
/** What the database keeps of a refresh token: its SHA-256, hex. */
export const hashRefreshToken = (token: string): string => createHash("sha256").update(token).digest("hex");
const invalidRefreshToken = (): AppError =>
  new AppError(ErrorCode.UNAUTHENTICATED, "refresh token is invalid, expired or revoked; log in again");
const accountDisabled = (): AppError => new AppError(ErrorCode.ACCOUNT_DISABLED, "this account is disabled");

/** Only the request id travels on events: identity headers are for subgraph requests. */
const eventHeaders = (headers: Headers): Headers => {
  const requestId = headers[REQUEST_ID_HEADER];
  return requestId ? { [REQUEST_ID_HEADER]: requestId } : {};
};

const hashPassword = (password: string): Promise<string> => Bun.password.hash(password, { algorithm: "argon2id" });

/**
 * Registration and login: the only place that handles passwords and issues tokens.
 * Create with {@link AccountService.create}.
 */
export class AccountService {
  private constructor(
    private readonly opts: AccountServiceOptions,
    /** Hash verified against when the e-mail is unknown, so both login failures cost the same. */
    private readonly dummyHash: Promise<string>,
  ) {}

  /**
   * Builds the service. The dummy password hash (argon2id, ~170 ms) is computed on Bun's
   * thread pool in the background rather than awaited here: it only matters to the first
   * login with an unknown e-mail, and awaiting it cost every cold start that much.
   */
  static async create(opts: AccountServiceOptions): Promise<AccountService> {
    const dummyHash = hashPassword(`dummy-${newId()}`);
    dummyHash.catch(() => {}); // a failure surfaces at the login that awaits it
    return new AccountService(opts, dummyHash);
  }

  /**
   * Creates an account (roles {@link DEFAULT_ROLES}) with its `account.registered` event (in
   * the outbox, same transaction), and returns a token for it.
   * @throws AppError `BAD_USER_INPUT` (see {@link validateRegisterInput}), `EMAIL_TAKEN`.
   */
  async register(input: RegisterInput, headers: Headers): Promise<AuthPayload> {
    const valid = validateRegisterInput(input);
    const account: AccountRecord = {
      id: newId(),
      name: valid.name,
      email: valid.email,
      roles: [...DEFAULT_ROLES],
      createdAt: new Date().toISOString(),
      disabledAt: null,
    };
    // Uniqueness is left to the store's constraint: a pre-check would race with a concurrent registration.
    // account.registered is written in the same transaction (outbox): published iff the account exists.
    const event: AccountRegisteredEvent = {
      eventId: newId(),
      accountId: account.id,
      email: account.email,
      name: account.name,
      occurredAt: account.createdAt,
    };
    await this.opts.store.create({ ...account, passwordHash: await hashPassword(valid.password) }, [
      { ...outboxEntry(AccountEventTypes.registered, event), headers: eventHeaders(headers) },
    ]);
    return this.startSession(account);
  }

  /**
   * Checks credentials and starts a session: an access token and a refresh token.
   * @throws AppError `INVALID_CREDENTIALS`, with one message for an unknown e-mail and a wrong
   *   password, both after one argon2 verification (no timing difference); `ACCOUNT_DISABLED`
   *   for the right password of a disabled account.
   */
  async login(email: string, password: string): Promise<AuthPayload> {
    const creds = await this.opts.store.credentialsByEmail(normaliseEmail(email));
    const ok = await Bun.password.verify(password, creds?.passwordHash ?? (await this.dummyHash));
    if (!creds || !ok) throw new AppError(ErrorCode.INVALID_CREDENTIALS, "invalid e-mail or password");
    if (creds.account.disabledAt !== null) throw accountDisabled();
    return this.startSession(creds.account);
  }

  /**
   * Rotates a refresh token (OAuth 2.0 Security BCP, refresh token rotation): marks it used and
   * returns a new access token and refresh token of the same session, with the account's
   * current roles. A refresh token presented again after it was rotated means two parties hold
   * it: the whole session is revoked (`account.session_revoked`, reason `reuse`).
   * @throws AppError `UNAUTHENTICATED` (unknown, expired or revoked), `TOKEN_REUSED`, `ACCOUNT_DISABLED`.
   */
  async refresh(refreshToken: string, headers: Headers): Promise<AuthPayload> {
    if (refreshToken.length === 0 || refreshToken.length > REFRESH_TOKEN_MAX) throw invalidRefreshToken();
    const now = new Date();
    const next = newRefreshToken();
    const refreshTokenExpiresAt = new Date(now.getTime() + this.opts.refreshTokenTtlS * 1000).toISOString();
    const outcome = await this.opts.store.rotateRefreshToken(
      hashRefreshToken(refreshToken),
      { hash: hashRefreshToken(next), createdAt: now.toISOString(), expiresAt: refreshTokenExpiresAt },
      now.toISOString(),
    );
    switch (outcome.kind) {
      case "rotated":
        return {
          ...(await this.accessToken(outcome.account, outcome.sessionId)),
          refreshToken: next,
          refreshTokenExpiresAt,
          account: outcome.account,
        };
      case "reused":
        await this.revoke(outcome.sessionId, outcome.accountId, "reuse", headers);
        throw new AppError(ErrorCode.TOKEN_REUSED, "refresh token was already used; the session is revoked, log in again");
      case "disabled":
        throw accountDisabled();
      default:
        throw invalidRefreshToken();
    }
  }

  /**
   * Ends the caller's session (`identity.sessionId`) and, with `refreshToken`, the session that
   * token belongs to if it is the caller's: its refresh tokens stop rotating and gateways refuse
   * its access tokens (`account.session_revoked`, reason `logout`).
   * @returns true when a session was revoked by this call.
   */
  async logout(identity: Identity, refreshToken: string | undefined, headers: Headers): Promise<boolean> {
    const sessions = new Set<string>();
    if (identity.sessionId) sessions.add(identity.sessionId);
    if (refreshToken && refreshToken.length <= REFRESH_TOKEN_MAX) {
      const s = await this.opts.store.sessionOfRefreshToken(hashRefreshToken(refreshToken));
      if (s && s.accountId === identity.accountId) sessions.add(s.sessionId);
    }
    let revoked = false;
    for (const sessionId of sessions) if (await this.revoke(sessionId, identity.accountId, "logout", headers)) revoked = true;
    return revoked;
  }

  /**
   * Disables (`disabled`) or enables an account, as an admin. Disabling revokes every session
   * of it and publishes `account.disabled` (gateways then refuse its access tokens); enabling
   * publishes `account.enabled`. Idempotent: no event when the status does not change.
   * @throws AppError `FORBIDDEN` (not admin), `NOT_FOUND`, `BAD_USER_INPUT` (disabling oneself).
   */
  async setDisabled(caller: Identity | null, id: string, disabled: boolean, headers: Headers): Promise<AccountRecord> {
    if (!caller?.roles.includes(ADMIN_ROLE)) throw forbidden(`the ${ADMIN_ROLE} role is required`);
    if (disabled && caller.accountId === id) throw badInput("an admin cannot disable their own account", { field: "id" });
    const occurredAt = new Date().toISOString();
    const event: AccountStatusEvent = { eventId: newId(), accountId: id, occurredAt };
    const account = await this.opts.store.setDisabled(id, disabled ? occurredAt : null, {
      ...outboxEntry(disabled ? AccountEventTypes.disabled : AccountEventTypes.enabled, event),
      headers: eventHeaders(headers),
    });
    if (!account) throw notFound("account", id);
    return account;
  }

  /**
   * Deletes the refresh tokens that expired before `now`, in batches of {@link PRUNE_BATCH}
   * (each a short statement, so logins and rotations are not held up).
   * @returns how many were deleted.
   */
  async pruneExpiredRefreshTokens(now = new Date()): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.opts.store.pruneRefreshTokens(now.toISOString(), PRUNE_BATCH);
      total += n;
      if (n < PRUNE_BATCH) return total;
    }
  }

  /**
   * The gateway's session check: whether an access token of `accountId` (and session
   * `sessionId`) may be used. A session id that names no stored session (a token minted with
   * the secret outside this module) is judged by its account alone. The request's shape is
   * the kernel's to check (`AccountCommands.sessionCheck`: a malformed one is `BAD_REQUEST`).
   */
  async checkSession(req: SessionCheckRequest): Promise<SessionCheckReply> {
    const status = await this.opts.store.sessionStatus(req.accountId, req.sessionId);
    if (!status.exists) return { active: false, reason: "account_missing" };
    if (status.disabled) return { active: false, reason: "account_disabled" };
    if (status.session === "revoked" || status.session === "other") return { active: false, reason: "session_revoked" };
    return { active: true };
  }

  /**
   * Makes sure the account `email` exists and has the {@link ADMIN_ROLE} role (the first admin,
   * from `ADMIN_EMAIL`/`ADMIN_PASSWORD`). Idempotent, and safe when several instances start
   * together: creates the account (roles customer + admin, name {@link ADMIN_NAME}) when
   * missing; otherwise grants the role. An existing account is promoted only if `password`
   * is its password, so whoever registered that e-mail first cannot become admin by it.
   * @returns what happened, for the start-up log.
   * @throws AppError `BAD_USER_INPUT` for an invalid e-mail/password; `INVALID_CREDENTIALS`
   *   when the account exists with another password (a configuration error: start fails).
   */
  async ensureAdmin(email: string, password: string): Promise<{ account: AccountRecord; outcome: "created" | "granted" | "unchanged" }> {
    const valid = validateRegisterInput({ name: ADMIN_NAME, email, password });
    const existing = await this.opts.store.credentialsByEmail(valid.email);
    if (!existing) {
      const account: AccountRecord = {
        id: newId(),
        name: ADMIN_NAME,
        email: valid.email,
        roles: [...DEFAULT_ROLES, ADMIN_ROLE],
        createdAt: new Date().toISOString(),
        disabledAt: null,
      };
      try {
        await this.opts.store.create({ ...account, passwordHash: await hashPassword(valid.password) });
        return { account, outcome: "created" };
      } catch (err) {
        // Another instance created it in the meantime: fall through to the existing-account path.
        if (!(err instanceof AppError && err.code === ErrorCode.EMAIL_TAKEN)) throw err;
        return this.ensureAdmin(email, password);
      }
    }
    if (!(await Bun.password.verify(valid.password, existing.passwordHash))) {
      throw new AppError(
        ErrorCode.INVALID_CREDENTIALS,
        `ADMIN_EMAIL ${valid.email} belongs to an existing account whose password is not ADMIN_PASSWORD; not granting admin`,
      );
    }
    if (existing.account.roles.includes(ADMIN_ROLE)) return { account: existing.account, outcome: "unchanged" };
    const account = await this.opts.store.addRole(existing.account.id, ADMIN_ROLE);
    if (!account) throw new Error(`account ${existing.account.id} disappeared while granting admin`);
    return { account, outcome: "granted" };
  }

  /** Starts a session for `account`: a stored refresh token (hashed) and an access token with its `sid`. */
  private async startSession(account: AccountRecord): Promise<AuthPayload> {
    const now = new Date();
    const sessionId = newId();
    const refreshToken = newRefreshToken();
    const refreshTokenExpiresAt = new Date(now.getTime() + this.opts.refreshTokenTtlS * 1000).toISOString();
    const created = await this.opts.store.createSession(
      { id: sessionId, accountId: account.id, createdAt: now.toISOString() },
      { hash: hashRefreshToken(refreshToken), createdAt: now.toISOString(), expiresAt: refreshTokenExpiresAt },
    );
    // Disabled between the password check and here (or deleted): no session.
    if (!created) throw accountDisabled();
    return { ...(await this.accessToken(account, sessionId)), refreshToken, refreshTokenExpiresAt, account };
  }

  private async accessToken(account: AccountRecord, sessionId: string): Promise<{ token: string; expiresAt: string }> {
    const token = await signToken(this.opts.jwtSecret, { accountId: account.id, roles: account.roles, sessionId }, this.opts.jwtTtlS);
    // Read back from the token: exactly its exp claim.
    const expMs = tokenExpiresAtMs(token) ?? Date.now() + this.opts.jwtTtlS * 1000;
    return { token, expiresAt: new Date(expMs).toISOString() };
  }

  /** Revokes one session with its `account.session_revoked` event; true when this call revoked it. */
  private revoke(sessionId: string, accountId: string, reason: SessionRevokedEvent["reason"], headers: Headers): Promise<boolean> {
    const occurredAt = new Date().toISOString();
    const event: SessionRevokedEvent = { eventId: newId(), accountId, sessionId, reason, occurredAt };
    return this.opts.store.revokeSession(sessionId, accountId, occurredAt, reason, {
      ...outboxEntry(AccountEventTypes.sessionRevoked, event),
      headers: eventHeaders(headers),
    });
  }
}
