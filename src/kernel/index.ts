/**
 * The kernel's public surface for modules and the gateway. Modules import from here (and
 * from other modules' `contract/` folders) only.
 */
export type { Bus, Headers, Msg, Subscription } from "./bus/types.ts";
export { BusError, BusTimeoutError, NoRespondersError, BusClosedError } from "./bus/errors.ts";
export { handOver } from "./bus/rpc.ts";
export { AppError, ErrorCode, notFound, badInput, unauthenticated, forbidden, limitExceeded } from "./errors.ts";
export { newId, isId } from "./ids.ts";
export { singleLineText, multiLineText, isCleanSingleLine, type TextBounds } from "./text.ts";
export { liveEvents, type LiveEventsOptions } from "./events/live.ts";
export { money, MONEY_SDL, type Money } from "./money.ts";
export { IDENTITY_HEADER, REQUEST_ID_HEADER, type Identity } from "./identity.ts";
export { signToken, verifyToken, tokenExpiresAtMs, InvalidTokenError } from "./auth/jwt.ts";
export { MigrationError, type Migration, type DialectScripts } from "./storage/migrations.ts";
export { openDatabase, type ModuleDb, type SqlDialect, type SqlExecutor, type OpenDatabaseOptions } from "./storage/database.ts";
export { migrate, openMigratedDatabase, type OpenMigratedOptions } from "./storage/migrate.ts";
export { GroupCommitter, type GroupWrite } from "./storage/group-committer.ts";
export { Prepared, type PreparedArg } from "./storage/prepared.ts";
export { isUniqueViolation, type UniqueKey } from "./storage/errors.ts";
export { Inbox, inboxMigration, DEFAULT_INBOX_RETENTION_MS } from "./inbox/index.ts";
export type { Logger } from "./logger.ts";
export type { Config } from "./config.ts";
export { ConfigError, defaultsOf, defineOptions, option, type OptionsOf } from "./config.ts";
export { bool, int, matching, oneOf, orUnset, parsed } from "./config.ts";
export type { Kernel } from "./kernel.ts";
export {
  defineCommand,
  defineEvent,
  defineContract,
  subjectsOf,
  outboxEntry,
  type CommandDefinition,
  type EventDefinition,
  type EventBase,
  type Contract,
  type OutboxEntry,
  type RequestOf,
  type ReplyOf,
  type EventOf,
} from "./contract/define.ts";
export { defineModule, type ModuleSpec, type DefinedModule } from "./contract/module.ts";
export {
  subgraphSubject,
  type ModuleDefinition,
  type ModuleContext,
  type ModuleInstance,
  type Resolvers,
  type SubgraphContext,
  type HandlerMeta,
  type DatabaseConfig,
  type ModuleStorage,
} from "./module.ts";
export {
  Outbox,
  outboxMigration,
  type OutboxSource,
  type OutboxEvent,
  type OutboxNotify,
} from "./outbox/index.ts";
