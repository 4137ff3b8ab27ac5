/**
 * GraphQL-over-HTTP request errors with a code and the status the spec asks for
 * (https://graphql.github.io/graphql-over-http/draft/#sec-Status-Codes). yoga leaves some of them
 * uncoded, with an empty body, or with a 200 where the request was not well-formed:
 *
 * | Request | Answer |
 * |---|---|
 * | no `query` (`{}`, a GET without `?query=`), after persisted operations had their turn | `BAD_REQUEST`, HTTP 400 whatever the `Accept` |
 * | variables that do not coerce (wrong type, missing non-null) | `BAD_USER_INPUT`, 400 for `application/graphql-response+json`, 200 for `application/json` (spec) |
 * | another request error raised before execution with no code | `BAD_REQUEST`, same statuses |
 * | a body that is not JSON (malformed) | `BAD_REQUEST`, HTTP 400 whatever the `Accept`; no parser message in production (request-ids.ts) |
 * | a `Content-Type` no parser reads (e.g. `application/xml`) | `UNSUPPORTED_MEDIA_TYPE`, HTTP 415 |
 * | an `Accept` that allows no media type the result can be sent as | `NOT_ACCEPTABLE`, HTTP 406 (the spec's recommended answer) |
 *
 * A subscription is streamed as `text/event-stream` (graphql-sse's "distinct connections" mode),
 * chosen for `Accept: text/event-stream`, any type (star/star) or no `Accept`; a client that accepts only JSON
 * gets the 406 with a message pointing at `text/event-stream` and the WebSocket endpoint, and the
 * subscription that was already opened for it is closed at once.
 *
 * Every body is `{ errors: [{ message, extensions: { code, requestId } }] }`.
 */
import { GraphQLError, type ExecutionResult } from "graphql";
import { createGraphQLError, isAsyncIterable } from "graphql-yoga";
import type { GatewayPlugin } from "./types.ts";
import { copyGraphQLError, isUnexpectedError } from "../graphql-errors.ts";

/** A request without a GraphQL document, or a request error raised before execution. */
export const BAD_REQUEST = "BAD_REQUEST";
/** Variables that do not coerce to their declared types. */
export const BAD_USER_INPUT = "BAD_USER_INPUT";
/** A request body in a media type the gateway does not read. */
export const UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE";
/** An `Accept` header that allows none of the media types the result can be sent as. */
export const NOT_ACCEPTABLE = "NOT_ACCEPTABLE";

/** Media types a POST body may have (yoga's parsers; multipart is off). */
const READABLE = "application/json, application/graphql+json, application/graphql, application/x-www-form-urlencoded";

const jsonError = (status: 406 | 415, code: string, message: string, requestId: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify({ errors: [{ message, extensions: { code, ...(typeof requestId === "string" ? { requestId } : {}) } }] }), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });

/**
 * Codes the errors of a result that has no `data` (a request error: the operation never ran)
 * and lets yoga answer 400 for `application/graphql-response+json` (`http.spec`: 200 for
 * `application/json`); variable errors next to data (the authorization plugin refused the
 * fields first) get their code too. Errors with a code, and unexpected ones (error-masking.ts),
 * are left alone.
 */
function codeRequestErrors(result: ExecutionResult): ExecutionResult | undefined {
  // graphql-js CoerceVariableValues() messages all start with `Variable "$name"`.
  const isVariableError = (e: GraphQLError): boolean => e.message.startsWith('Variable "$');
  // `data: undefined` (the Rust-planned executor) is no data entry either.
  const requestError = result.data === undefined;
  const uncoded = (e: GraphQLError): boolean =>
    e.extensions?.["code"] === undefined && !isUnexpectedError(e) && (requestError || isVariableError(e));
  if (!result.errors?.some(uncoded)) return undefined;
  const errors = result.errors.map((e) => {
    if (!uncoded(e)) return e;
    const code = isVariableError(e) ? BAD_USER_INPUT : BAD_REQUEST;
    // With data (the authorization plugin already answered the fields it refused): no status change.
    return copyGraphQLError(e, { ...e.extensions, code, ...(requestError ? { http: { status: 400, spec: true } } : {}) });
  });
  return { ...result, errors };
}

/**
 * The result for an error an executor threw (the Rust-planned executor throws variable
 * coercion errors; graphql-ws has no yoga `handle` around it either): a GraphQL error that is
 * not unexpected, or an AggregateError of such, becomes `{ errors }`, coded as request errors
 * (`BAD_USER_INPUT` for variables). Anything else is rethrown.
 * @throws `err` when it is not such an error (a bug or an outage: masked elsewhere).
 */
export function requestErrorResult(err: unknown): ExecutionResult {
  const list: unknown[] = err instanceof AggregateError ? err.errors : [err];
  if (list.length === 0 || !list.every((e) => e instanceof GraphQLError && !isUnexpectedError(e))) throw err;
  const result: ExecutionResult = { errors: list as GraphQLError[] };
  return codeRequestErrors(result) ?? result;
}

/**
 * yoga marks some not-well-formed requests (malformed JSON) `http.spec`, which under
 * `application/json` gives 200 once request-ids.ts has removed `extensions.originalError` in
 * production; the spec asks 400 for a body the server cannot interpret, whatever the media type.
 */
function badRequestsAre400(result: ExecutionResult): ExecutionResult {
  type Http = { status?: number; spec?: boolean };
  const lenient = (e: GraphQLError): boolean =>
    e.extensions?.["code"] === BAD_REQUEST && (e.extensions["http"] as Http | undefined)?.spec === true;
  if (!result.errors?.some(lenient)) return result;
  const errors = result.errors.map((e) =>
    lenient(e)
      ? new GraphQLError(e.message, {
          nodes: e.nodes ?? null,
          source: e.source ?? null,
          positions: e.positions ?? null,
          path: e.path ?? null,
          originalError: e.originalError ?? null,
          extensions: { ...e.extensions, http: { ...(e.extensions["http"] as Http), spec: false } },
        })
      : e,
  );
  return { ...result, errors };
}

/**
 * The plugin; see the file comment. Goes after every other gateway plugin (its `onParams` must
 * see what persisted operations made of the request, its `onResultProcess` which processor was
 * chosen).
 */
export function useRequestErrors(): GatewayPlugin {
  return {
    onRequestParse({ requestParser, endResponse, serverContext, request }) {
      // yoga's parsers ran before this hook: none matched the Content-Type.
      if (requestParser) return;
      const type = request.headers.get("content-type") ?? "none";
      endResponse(
        jsonError(
          415,
          UNSUPPORTED_MEDIA_TYPE,
          `request bodies of type ${type.slice(0, 100)} are not read; send ${READABLE}`,
          (serverContext as { requestId?: unknown }).requestId,
          { accept: READABLE },
        ),
      );
    },
    onParams({ params }) {
      // yoga says 200 to `{}` under application/json; the spec calls it not well-formed (4xx).
      if (params.query == null) {
        throw createGraphQLError("Must provide query string.", { extensions: { code: BAD_REQUEST, http: { status: 400 } } });
      }
    },
    onResultProcess({ result, setResult, resultProcessor, setResultProcessor, serverContext, acceptableMediaTypes }) {
      if (!isAsyncIterable(result) && !Array.isArray(result)) {
        // Here rather than after execute: a request error can end the operation before it (the
        // authorization plugin's extended validation coerces the variables itself).
        const fixed = badRequestsAre400(codeRequestErrors(result) ?? result);
        if (fixed !== result) setResult(fixed);
      }
      if (resultProcessor) return;
      const requestId = (serverContext as { requestId?: unknown }).requestId;
      const stream = isAsyncIterable(result);
      setResultProcessor(() => {
        // yoga would leave an opened subscription running with nobody reading it.
        if (stream) void Promise.resolve(result[Symbol.asyncIterator]().return?.()).catch(() => {});
        const message = stream
          ? "a subscription is streamed as text/event-stream: send Accept: text/event-stream, or subscribe over WebSocket (graphql-transport-ws)"
          : `the Accept header allows none of ${[...new Set(acceptableMediaTypes)].join(", ")}`;
        return jsonError(406, NOT_ACCEPTABLE, message, requestId, { accept: [...new Set(acceptableMediaTypes)].join(", ") });
      }, "application/json");
    },
  };
}
