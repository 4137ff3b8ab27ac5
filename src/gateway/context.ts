import type { Identity } from "../kernel/identity.ts";

/** Per-request context the gateway builds at the HTTP edge and passes to yoga and executors. */
export interface GatewayContext {
  /** Verified caller, or null when no token was sent. */
  identity: Identity | null;
  /** Request id (from `x-request-id` when valid, else a new KSUID); echoed in the response. */
  requestId: string;
  /** Client address of the request (middleware/client-ip.ts); keys the per-IP limits. Absent when no middleware resolved it. */
  clientIp?: string | undefined;
  /** `"ws"` for an operation sent on a WebSocket (ws.ts), else HTTP (including SSE). */
  transport?: "http" | "ws";
}
