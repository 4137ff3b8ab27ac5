import { AppError, ErrorCode, newId, signToken, type Headers } from "../../kernel/index.ts";
import type { AccountRegisteredEvent } from "./contract/index.ts";
import type { AccountRecord, AccountStore } from "./storage/types.ts";
import { normaliseEmail, validateRegisterInput, type RegisterInput } from "./validation.ts";

/** Roles of a newly registered account. */
export const DEFAULT_ROLES: readonly string[] = ["customer"];

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
  /** Publishes `account.registered`; `headers` forwards the request id. */
  /** Publishes `account.registered`; must not reject (the account exists: log failures instead). */
  emitRegistered(event: AccountRegisteredEvent, headers: Headers): Promise<void>;
}

const hashPassword = (password: string): Promise<string> => Bun.password.hash(password, { algorithm: "argon2id" });

/**
 * Registration and login: the only place that handles passwords and issues tokens.
 * Create with {@link AccountService.create}.
 */
export class AccountService {
  private constructor(
    private readonly opts: AccountServiceOptions,
    /** Hash verified against when the e-mail is unknown, so both login failures cost the same. */
    private readonly dummyHash: string,
  ) {}

  /** Builds the service; hashes a dummy password once (tens of ms), hence async. */
  static async create(opts: AccountServiceOptions): Promise<AccountService> {
    return new AccountService(opts, await hashPassword(`dummy-${newId()}`));
  }

  /**
   * Creates an account (roles {@link DEFAULT_ROLES}), publishes `account.registered`, and
   * returns a token for it.
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
    await this.opts.store.create({ ...account, passwordHash: await hashPassword(valid.password) });
    await this.opts.emitRegistered({ eventId: newId(), accountId: account.id, email: account.email, name: account.name, occurredAt: account.createdAt }, headers);
    return { token: await this.tokenFor(account), account };
  }

  /**
   * Checks credentials and returns a token.
   * @throws AppError `INVALID_CREDENTIALS`, with one message for an unknown e-mail and a wrong
   *   password, both after one argon2 verification (no timing difference).
   */
  async login(email: string, password: string): Promise<AuthPayload> {
    const creds = await this.opts.store.credentialsByEmail(normaliseEmail(email));
    const ok = await Bun.password.verify(password, creds?.passwordHash ?? this.dummyHash);
    if (!creds || !ok) throw new AppError(ErrorCode.INVALID_CREDENTIALS, "invalid e-mail or password");
    return { token: await this.tokenFor(creds.account), account: creds.account };
  }

  private tokenFor(account: AccountRecord): Promise<string> {
    return signToken(this.opts.jwtSecret, { accountId: account.id, roles: account.roles }, this.opts.jwtTtlS);
  }
}
