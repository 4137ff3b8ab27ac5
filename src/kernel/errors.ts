import { GraphQLError } from "graphql";

/**
 * Stable error codes carried in GraphQL `extensions.code` and in bus error replies.
 * Clients switch on these; never rename one.
 */
export const ErrorCode = {
  UNAUTHENTICATED: "UNAUTHENTICATED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  BAD_USER_INPUT: "BAD_USER_INPUT",
  OUT_OF_STOCK: "OUT_OF_STOCK",
  CONFLICT: "CONFLICT",
  /** The object is not in a state that allows the operation (e.g. cancelling a shipped order). */
  INVALID_STATE: "INVALID_STATE",
  /** A configured limit refused the request (details `{ limitName, limit }`; e.g. too many unpaid orders). */
  LIMIT_EXCEEDED: "LIMIT_EXCEEDED",
  EMAIL_TAKEN: "EMAIL_TAKEN",
  INVALID_CREDENTIALS: "INVALID_CREDENTIALS",
  /** A refresh token that was already rotated was presented again: its whole family is revoked. */
  TOKEN_REUSED: "TOKEN_REUSED",
  /** The account was disabled by an admin: login and refresh are refused. */
  ACCOUNT_DISABLED: "ACCOUNT_DISABLED",
  /**
   * A bus request did not match its command's schema (details `{ subject, issues }`): the
   * caller is out of step with the contract. Answered by the responder's kernel; the handler never ran.
   */
  BAD_REQUEST: "BAD_REQUEST",
  /** A bus reply did not match its command's schema (details `{ subject, issues }`); raised by the caller's kernel. */
  BAD_REPLY: "BAD_REPLY",
  SERVICE_UNAVAILABLE: "SERVICE_UNAVAILABLE",
  INTERNAL: "INTERNAL_SERVER_ERROR",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * An expected, user-facing failure with a stable code. Thrown by module logic; the subgraph
 * server turns it into a GraphQL error with `extensions.code`, and the RPC helpers carry it
 * across the bus so the caller re-throws the same code.
 */
export class AppError extends Error {
  override readonly name = "AppError";
  constructor(
    readonly code: ErrorCode | (string & {}),
    message: string,
    /** Extra machine-readable details (JSON-serialisable), e.g. `{ productId }`. */
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }

  /**
   * GraphQL error extensions. graphql-js copies `originalError.extensions` onto the located
   * error, so throwing an AppError from a resolver yields `extensions.code` with no wrapping.
   */
  get extensions(): Record<string, unknown> {
    return { ...this.details, code: this.code };
  }

  /** Converts to a GraphQLError with `extensions: { code, ...details }`. */
  toGraphQLError(): GraphQLError {
    return new GraphQLError(this.message, { extensions: { ...this.details, code: this.code } });
  }
}

/** Shorthands for the common cases. */
export const notFound = (what: string, id: string): AppError => new AppError(ErrorCode.NOT_FOUND, `${what} ${id} not found`, { id });
export const badInput = (message: string, details?: Record<string, unknown>): AppError =>
  new AppError(ErrorCode.BAD_USER_INPUT, message, details);
export const unauthenticated = (): AppError => new AppError(ErrorCode.UNAUTHENTICATED, "authentication required");
/**
 * A configured limit refused the request: `extensions` `{ code: "LIMIT_EXCEEDED", limitName, limit, ...details }`.
 * @param limitName stable name of the limit (its configuration variable, e.g. `ORDER_MAX_LINES`).
 * @param limit the configured bound that was exceeded.
 */
export const limitExceeded = (limitName: string, limit: number, message: string, details?: Record<string, unknown>): AppError =>
  new AppError(ErrorCode.LIMIT_EXCEEDED, message, { ...details, limitName, limit });
export const forbidden = (message = "not allowed"): AppError => new AppError(ErrorCode.FORBIDDEN, message);
