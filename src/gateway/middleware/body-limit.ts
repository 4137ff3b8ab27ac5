/**
 * Request body size limit on `/graphql` (`MAX_BODY_BYTES`, default 1 MiB), with hono's
 * `body-limit` middleware (https://hono.dev/docs/middleware/builtin/body-limit): a declared
 * `Content-Length` over the limit is refused before anything is read; a chunked body is read only
 * up to the limit. Refused: HTTP 413 with `extensions: { code: "PAYLOAD_TOO_LARGE", limit }`.
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { graphqlErrorResponse } from "./errors.ts";

/** Error code of a request whose body is over the limit. */
export const PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE";

/** The middleware for bodies of at most `maxBytes` bytes. */
export function bodySizeLimit(maxBytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) =>
      graphqlErrorResponse(c, 413, PAYLOAD_TOO_LARGE, `request body is larger than ${maxBytes} bytes`, { extensions: { limit: maxBytes } }),
  });
}
