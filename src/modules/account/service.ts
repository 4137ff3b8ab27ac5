import { AppError, ErrorCode, newId, REQUEST_ID_HEADER, signToken, type Headers } from "../../kernel/index.ts";
import { AccountEvents, type AccountRegisteredEvent } from "./contract/index.ts";
import type { AccountRecord, AccountStore } from "./storage/types.ts";
import { normaliseEmail, validateRegisterInput, type RegisterInput } from "./validation.ts";

/** Roles of a newly registered account. */
export const DEFAULT_ROLES: readonly string[] = ["customer"];
/** Role of administrators: the catalog's admin mutations require it, and it reads every account. */
export const ADMIN_ROLE = "admin";
/** Display name of an admin account created by {@link AccountService.ensureAdmin}. */
export const ADMIN_NAME = "Administrator";

/** What `register` and `login` return (GraphQL `AuthPayload`). */
export interface AuthPayload {
  /** HS256 JWT with `sub` = account id and a `roles` claim. */
  token: string;
  account: AccountRecord;
}

export interface AccountServiceOptions {
  store: AccountStore;
  /** HS256 signing secret. */
  jwtSecret: string;
  /** Token lifetime, seconds. */
  jwtTtlS: number;
}

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
    };
    // Uniqueness is left to the store's constraint: a pre-check would race with a concurrent registration.
    // account.registered is written in the same transaction (outbox): published iff the account exists.
    const event: AccountRegisteredEvent = { eventId: newId(), accountId: account.id, email: account.email, name: account.name, occurredAt: account.createdAt };
    await this.opts.store.create({ ...account, passwordHash: await hashPassword(valid.password) }, [{ subject: AccountEvents.registered, event, headers: eventHeaders(headers) }]);
    return { token: await this.tokenFor(account), account };
  }

  /**
   * Checks credentials and returns a token.
   * @throws AppError `INVALID_CREDENTIALS`, with one message for an unknown e-mail and a wrong
   *   password, both after one argon2 verification (no timing difference).
   */
  async login(email: string, password: string): Promise<AuthPayload> {
    const creds = await this.opts.store.credentialsByEmail(normaliseEmail(email));
    const ok = await Bun.password.verify(password, creds?.passwordHash ?? (await this.dummyHash));
    if (!creds || !ok) throw new AppError(ErrorCode.INVALID_CREDENTIALS, "invalid e-mail or password");
    return { token: await this.tokenFor(creds.account), account: creds.account };
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
      const account: AccountRecord = { id: newId(), name: ADMIN_NAME, email: valid.email, roles: [...DEFAULT_ROLES, ADMIN_ROLE], createdAt: new Date().toISOString() };
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
      throw new AppError(ErrorCode.INVALID_CREDENTIALS, `ADMIN_EMAIL ${valid.email} belongs to an existing account whose password is not ADMIN_PASSWORD; not granting admin`);
    }
    if (existing.account.roles.includes(ADMIN_ROLE)) return { account: existing.account, outcome: "unchanged" };
    const account = await this.opts.store.addRole(existing.account.id, ADMIN_ROLE);
    if (!account) throw new Error(`account ${existing.account.id} disappeared while granting admin`);
    return { account, outcome: "granted" };
  }

  private tokenFor(account: AccountRecord): Promise<string> {
    return signToken(this.opts.jwtSecret, { accountId: account.id, roles: account.roles }, this.opts.jwtTtlS);
  }
}
