/**
 * Internal errors of the gateway, masked by yoga and correlated by request id.
 *
 * An *unexpected* error is one a resolver or plugin threw that is not a GraphQL error (a bug, a
 * broken dependency) and carries no `extensions.code`. yoga masks it (its `maskedErrors` option,
 * with {@link gatewayMaskedErrors} as the `maskError` function), and the client gets
 * `extensions: { code: "INTERNAL_SERVER_ERROR", requestId }` with:
 * - `NODE_ENV=production`: the message `internal error (request <id>)`, nothing of the original;
 * - otherwise: the original message (development aid).
 * Coded errors (`BAD_USER_INPUT`, `FORBIDDEN`, AppError codes, subgraph errors, which subgraphs
 * mask the same way already) pass unchanged, even when they wrap a JavaScript error. Errors that
 * are not GraphQL errors at all (thrown outside execution) get yoga's own mask ("Unexpected error.").
 *
 * yoga's `maskError` sees no request, so the request id is added afterwards by
 * {@link withRequestIds} (plugins/request-ids.ts over HTTP, ws.ts over WebSocket), which also logs
 * the original error in full under that request id, once.
 */
import { GraphQLError, type ExecutionResult, type GraphQLFormattedError } from "graphql";
import { maskError as yogaMaskError, type YogaMaskedErrorOpts } from "graphql-yoga";
import type { LogSink } from "../kernel/logger.ts";
import { copyGraphQLError, INTERNAL_SERVER_ERROR, isUnexpectedError } from "./graphql-errors.ts";

export { INTERNAL_SERVER_ERROR, isUnexpectedError };

/** What {@link withRequestIds} still has to do for an error yoga masked: log it and, in production, name the request. */
interface Masked {
  /** The error as thrown (what yoga masked). */
  thrown: GraphQLError;
  /** Its innermost cause, logged in full. */
  cause: unknown;
  production: boolean;
  logger: Pick<LogSink, "error">;
}

/** Errors produced by {@link gatewayMaskedErrors}'s `maskError`, until {@link withRequestIds} finishes them. */
const pending = new WeakMap<GraphQLError, Masked>();
/** Thrown errors whose logging {@link withRequestIds} does (with the request id); see {@link loggedWithRequestId}. */
const thrownAndMasked = new WeakSet<object>();

/** The innermost non-GraphQL cause of `e` (what was actually thrown). */
function rootCause(e: GraphQLError): unknown {
  let cause: unknown = e.originalError;
  while (cause instanceof GraphQLError && cause.originalError) cause = cause.originalError;
  return cause;
}

/**
 * yoga's `maskedErrors` option for the gateway: the masking decision is yoga's hook (run on
 * execution results, subscription events and errors thrown before execution); see the file comment.
 * @param opts.production `NODE_ENV=production`: no original message, no `originalError` details.
 * @param opts.logger where {@link withRequestIds} logs the original error.
 */
export function gatewayMaskedErrors(opts: { production: boolean; logger: Pick<LogSink, "error"> }): Partial<YogaMaskedErrorOpts> {
  return {
    isDev: !opts.production,
    maskError(error, message, isDev) {
      if (!(error instanceof GraphQLError)) return yogaMaskError(error, message, isDev);
      if (!isUnexpectedError(error)) return error;
      const cause = rootCause(error);
      const masked = copyGraphQLError(
        error,
        { code: INTERNAL_SERVER_ERROR },
        // Completed with the request id by withRequestIds in production.
        { message: opts.production ? "internal error" : cause instanceof Error ? cause.message : String(cause), dropOriginal: true },
      );
      pending.set(masked, { thrown: error, cause, production: opts.production, logger: opts.logger });
      thrownAndMasked.add(error);
      return masked;
    },
  };
}

/**
 * True for an error yoga is about to log because {@link gatewayMaskedErrors} masked it: the
 * gateway logs it itself, with the request id (yoga's logging adapter skips it, no double line).
 */
export function loggedWithRequestId(err: unknown): boolean {
  return typeof err === "object" && err !== null && thrownAndMasked.has(err);
}

type AnyError = GraphQLError | GraphQLFormattedError;

/**
 * `e` with `extensions.requestId`. An error masked by {@link gatewayMaskedErrors} is finished:
 * its original is logged (`unexpected error in the gateway`, with `request_id`) and, in
 * production, its message becomes `internal error (request <id>)`. With `production`, also
 * without `extensions.originalError`, the name and message of an internal exception that yoga
 * attaches to some request errors (e.g. the JSON parser's message on a malformed body).
 */
export function withRequestId(e: AnyError, requestId: string, production: boolean): AnyError {
  const masked = e instanceof GraphQLError ? pending.get(e) : undefined;
  if (masked && e instanceof GraphQLError) {
    pending.delete(e);
    masked.logger.error({ err: masked.cause, path: e.path, request_id: requestId }, "unexpected error in the gateway");
    return copyGraphQLError(
      e,
      { ...e.extensions, requestId },
      { message: masked.production ? `internal error (request ${requestId})` : e.message, dropOriginal: true },
    );
  }
  const leaks = production && e.extensions?.["originalError"] !== undefined;
  if (e.extensions?.["requestId"] !== undefined && !leaks) return e;
  const extensions: Record<string, unknown> = { ...e.extensions, requestId };
  if (production) delete extensions["originalError"];
  return e instanceof GraphQLError ? copyGraphQLError(e, extensions) : { ...e, extensions };
}

/**
 * `result` with {@link withRequestId} applied to each error; `result` itself when it has none.
 * @param production see {@link withRequestId}.
 */
export function withRequestIds<R extends ExecutionResult>(result: R, requestId: string, production: boolean): R {
  if (!result.errors?.length) return result;
  return { ...result, errors: result.errors.map((e) => withRequestId(e, requestId, production)) as GraphQLError[] };
}

/**
 * `result` with only the errors yoga masked finished (request id, log line, message); the
 * WebSocket transport's counterpart of {@link withRequestIds}, which tags every error of an HTTP
 * response. Unchanged when none was masked.
 */
export function withMaskedRequestIds<R extends ExecutionResult>(result: R, requestId: string): R {
  if (!result.errors?.some((e) => pending.has(e))) return result;
  return { ...result, errors: result.errors.map((e) => (pending.has(e) ? withRequestId(e, requestId, false) : e)) as GraphQLError[] };
}
