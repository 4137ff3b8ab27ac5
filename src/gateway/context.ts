import type { Identity } from "../kernel/identity.ts";

/** Per-request context the gateway builds at the HTTP edge and passes to yoga and executors. */
export interface GatewayContext {
  /** Verified caller, or null when no token was sent. */
  identity: Identity | null;
  /** Request id (from `x-request-id` when valid, else a new KSUID); echoed in the response. */
  requestId: string;
}
