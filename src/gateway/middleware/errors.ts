import type { Context } from "hono";
import { newId } from "../../kernel/ids.ts";
import { REQUEST_ID_RE } from "../../kernel/http-observability.ts";

/**
 * The request id of `c`: the one the observability middleware assigned (`c.get("requestId")`),
 * else the caller's valid `x-request-id`, else a new KSUID.
 */
export function requestIdOf(c: Context): string {
  const assigned = c.get("requestId") as string | undefined;
  if (assigned) return assigned;
  const incoming = c.req.header("x-request-id");
  return incoming && REQUEST_ID_RE.test(incoming) ? incoming : newId();
}

/**
 * A GraphQL-over-HTTP error response from a middleware that refuses a request before yoga sees
 * it: `{ errors: [{ message, extensions: { code, requestId, ...extensions } }] }` with `status`,
 * `content-type: application/json`, `x-request-id` and `headers`.
 */
export function graphqlErrorResponse(
  c: Context,
  status: 400 | 403 | 405 | 413 | 429,
  code: string,
  message: string,
  extra: { extensions?: Record<string, unknown>; headers?: Record<string, string> } = {},
): Response {
  const requestId = requestIdOf(c);
  return c.json({ errors: [{ message, extensions: { code, requestId, ...extra.extensions } }] }, status, {
    "x-request-id": requestId,
    ...extra.headers,
  });
}
