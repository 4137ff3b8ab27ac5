/**
 * Internal errors of the gateway, masked and correlated by request id.
 *
 * An *unexpected* error is one a resolver or plugin threw that is not a GraphQL error (a bug, a
 * broken dependency) and carries no `extensions.code`. It is logged in full with the request id,
 * and the client gets `extensions: { code: "INTERNAL_SERVER_ERROR", requestId }` with:
 * - `NODE_ENV=production`: the message `internal error (request <id>)`, nothing of the original;
 * - otherwise: the original message (development aid).
 * Coded errors (`BAD_USER_INPUT`, `FORBIDDEN`, subgraph errors, which subgraphs mask the same way
 * already) pass unchanged. Errors raised before execution (request parsing) are masked by yoga
 * itself (`maskedErrors`, "Unexpected error.") and only get the request id here (in production
 * also losing the `extensions.originalError` yoga gives some of them, e.g. a JSON parser message).
 *
 * Every error of a response also gets `extensions.requestId` (the `x-request-id` response header),
 * so a client report can be matched with the gateway's and the subgraphs' log lines.
 */
import { GraphQLError, type ExecutionResult, type GraphQLFormattedError } from "graphql";
import { handleStreamOrSingleExecutionResult, isAsyncIterable, mapAsyncIterator } from "graphql-yoga";
import type { Logger } from "../../kernel/logger.ts";
import type { GatewayPlugin } from "./types.ts";
import { copyGraphQLError, INTERNAL_SERVER_ERROR, isUnexpectedError } from "../graphql-errors.ts";

export { INTERNAL_SERVER_ERROR, isUnexpectedError };

export interface MaskedErrorsOptions {
  /** Replace the message of unexpected errors (`NODE_ENV=production`). */
  production: boolean;
  /** Where unexpected errors are logged (with `request_id`). */
  logger: Logger;
}

type AnyError = GraphQLError | GraphQLFormattedError;

/**
 * `e` with `extensions.requestId`; in production also without `extensions.originalError`, the
 * name and message of an internal exception that yoga attaches to some request errors (e.g. the
 * JSON parser's message on a malformed body).
 */
const withRequestId = (e: AnyError, requestId: string, production: boolean): AnyError => {
  const leaks = production && e.extensions?.["originalError"] !== undefined;
  if (e.extensions?.["requestId"] !== undefined && !leaks) return e;
  const extensions: Record<string, unknown> = { ...e.extensions, requestId };
  if (production) delete extensions["originalError"];
  if (e instanceof GraphQLError) {
    return copyGraphQLError(e, extensions);
  }
  return { ...e, extensions };
};

/** The masking plugin; see the file comment. */
export function useMaskedInternalErrors(opts: MaskedErrorsOptions): GatewayPlugin {
  const mask = (result: ExecutionResult, requestId: string): ExecutionResult | undefined => {
    if (!result.errors?.some((e) => e instanceof GraphQLError && isUnexpectedError(e))) return undefined;
    const errors = result.errors.map((e) => {
      if (!isUnexpectedError(e)) return e;
      const original = e.originalError as Error;
      opts.logger.error({ err: original, path: e.path, request_id: requestId }, "unexpected error in the gateway");
      return copyGraphQLError(
        e,
        { code: INTERNAL_SERVER_ERROR, requestId },
        { message: opts.production ? `internal error (request ${requestId})` : original.message, dropOriginal: true },
      );
    });
    return { ...result, errors };
  };
  const onDone = (requestId: string) => (payload: Parameters<typeof handleStreamOrSingleExecutionResult>[0]) =>
    handleStreamOrSingleExecutionResult(payload, ({ result, setResult }) => {
      const masked = mask(result, requestId);
      if (masked) setResult(masked);
    });
  return {
    onExecute({ args }) {
      return { onExecuteDone: onDone(args.contextValue.requestId) };
    },
    onSubscribe({ args }) {
      return { onSubscribeResult: onDone(args.contextValue.requestId) };
    },
    onResultProcess({ result, setResult, serverContext }) {
      const requestId = (serverContext as { requestId?: unknown }).requestId;
      if (typeof requestId !== "string") return;
      type Single = ExecutionResult & { stringify?: unknown };
      const tag = (r: Single): Single =>
        r.errors?.length ? { ...r, errors: r.errors.map((e) => withRequestId(e, requestId, opts.production)) as GraphQLError[] } : r;
      if (isAsyncIterable(result)) setResult(mapAsyncIterator(result, (r) => tag(r) as typeof r));
      else if (Array.isArray(result)) setResult(result.map((r) => tag(r) as typeof r));
      else setResult(tag(result) as typeof result);
    },
  };
}
