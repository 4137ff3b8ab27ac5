import { defineModule, type ModuleContext, type ModuleDefinition } from "../../kernel/index.ts";
import { ACCOUNT_SDL, AccountCommands, AccountContract } from "./contract/index.ts";
import { accountOptions, type AccountOptions } from "./options.ts";
import { createResolvers } from "./resolvers.ts";
import { AccountService } from "./service.ts";
import { openAccountDatabase } from "./storage/store.ts";
import type { AccountStore } from "./storage/types.ts";
import { ACCOUNT_MIGRATIONS } from "./storage/migrations.ts";

export interface AccountModuleOptions {
  /**
   * Opens the module's store. Default: {@link openAccountStore} (the database `ctx.database`
   * names, migrated). The module closes the store on stop (and when start fails after opening it).
   */
  storeFactory?: (ctx: ModuleContext) => AccountStore | Promise<AccountStore>;
}

/**
 * Opens the store on the database the kernel assigned: a PostgreSQL pool of `poolMax`
 * connections for `{ kind: "postgres" }`, else the SQLite file. Migrated before it returns.
 * @throws MigrationError when the database was migrated by newer code; the driver's error
 *   when it cannot be opened.
 */
export function openAccountStore(ctx: ModuleContext): Promise<AccountStore> {
  return openAccountDatabase(ctx.database, ctx.logger);
}

/**
 * Builds the account module: registration, login (it is the one module that issues JWTs),
 * and the `Account` entity. Owns `<DATA_DIR>/account.sqlite` by default, or the PostgreSQL
 * database `ctx.database` names.
 * Start throws when `config.jwtSecret` is undefined (main.ts generates one in development).
 */
export function createAccountModule(opts: AccountModuleOptions = {}): ModuleDefinition<AccountOptions> {
  return defineModule({
    name: "account",
    options: accountOptions,
    version: "0.1.0",
    dependsOn: [],
    typeDefs: ACCOUNT_SDL,
    contract: AccountContract,
    storage: { migrations: ACCOUNT_MIGRATIONS },
    async start(ctx) {
      const jwtSecret = ctx.config.jwtSecret;
      if (jwtSecret === undefined) throw new Error("account module needs a JWT secret (JWT_SECRET) to issue tokens");
      const store = await (opts.storeFactory ?? openAccountStore)(ctx);
      try {
        const service = await AccountService.create({
          store,
          jwtSecret,
          jwtTtlS: ctx.options.jwtTtlS,
          refreshTokenTtlS: ctx.options.refreshTokenTtlS,
        });
        // Publishes the account events, committed with each change (transactional outbox).
        if (store.outbox) ctx.relayOutbox(store.outbox);
        // The gateways' session check (cached by them for SESSION_CHECK_TTL_MS).
        ctx.serve(AccountCommands.sessionCheck, (req) => service.checkSession(req));
        const { adminEmail, adminPassword } = ctx.options;
        if (adminEmail !== undefined && adminPassword !== undefined) {
          const { account, outcome } = await service.ensureAdmin(adminEmail, adminPassword);
          ctx.logger.info({ accountId: account.id, email: account.email, outcome }, `admin account ${outcome}`);
        }
        // Expired refresh tokens are deleted hourly (not under --migrate).
        let pruning: Promise<unknown> = Promise.resolve();
        const prune = (): void => {
          pruning = service.pruneExpiredRefreshTokens().then(
            (n) => n > 0 && ctx.logger.info({ deleted: n }, "expired refresh tokens deleted"),
            (err: unknown) => ctx.logger.warn({ err }, "pruning expired refresh tokens failed; retrying in an hour"),
          );
        };
        const timer = ctx.migrateOnly ? undefined : setInterval(prune, ctx.options.refreshTokenPruneIntervalS * 1000);
        timer?.unref();
        return {
          resolvers: createResolvers(store, service),
          async stop() {
            clearInterval(timer);
            await pruning;
            await store.close();
          },
        };
      } catch (err) {
        await store.close();
        throw err;
      }
    },
  });
}

/** The account module with its default storage (SQLite or PostgreSQL, from `ctx.database`). */
export const accountModule: ModuleDefinition = createAccountModule();
