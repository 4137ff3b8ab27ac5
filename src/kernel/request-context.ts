import { AsyncLocalStorage } from "node:async_hooks";

/**
 * The request id of the work running now, carried implicitly across awaits
 * (AsyncLocalStorage), so that every log line written while serving a request carries its
 * `request_id` without threading a logger through every call. Set at the gateway's HTTP edge
 * and, in a module, by the bus instrumentation from the `sy-request-id` header.
 */
const storage = new AsyncLocalStorage<{ requestId: string }>();

/** Runs `fn` with `requestId` as the current request id. */
export function runWithRequestId<T>(requestId: string, fn: () => T): T {
  return storage.run({ requestId }, fn);
}

/** The current request id, or undefined outside a request. */
export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}
