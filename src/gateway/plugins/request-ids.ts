/**
 * Every error of an HTTP response gets `extensions.requestId` (the `x-request-id` response
 * header), so a client report can be matched with the gateway's and the subgraphs' log lines;
 * errors yoga masked (error-masking.ts) are finished here (logged with the request id, message).
 */
import type { ExecutionResult } from "graphql";
import { isAsyncIterable, mapAsyncIterator } from "graphql-yoga";
import { withRequestIds } from "../error-masking.ts";
import type { GatewayPlugin } from "./types.ts";

/**
 * The plugin; see the file comment.
 * @param opts.production `NODE_ENV=production`: also drops `extensions.originalError` from request errors.
 */
export function useErrorRequestIds(opts: { production: boolean }): GatewayPlugin {
  return {
    onResultProcess({ result, setResult, serverContext }) {
      const requestId = (serverContext as { requestId?: unknown }).requestId;
      if (typeof requestId !== "string") return;
      const tag = <R extends ExecutionResult>(r: R): R => withRequestIds(r, requestId, opts.production);
      if (isAsyncIterable(result)) setResult(mapAsyncIterator(result, tag));
      else if (Array.isArray(result)) setResult(result.map(tag));
      else setResult(tag(result));
    },
  };
}
