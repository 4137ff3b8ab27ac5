/**
 * Which nats.js status events the bus logs, at what level and with what message
 * (https://docs.nats.io/using-nats/developer/events/events).
 */

import { DebugEvents, Events, type Status } from "nats";
import type { LogSinkLevel } from "../../logger.ts";

/** One log line for a status event. */
export interface StatusLine {
  level: LogSinkLevel;
  msg: string;
}

/**
 * The line to log for `status`, or undefined for the ones that are noise at these levels
 * (reconnect attempts, ping timers, cluster updates).
 */
export function statusLine(status: Pick<Status, "type">): StatusLine | undefined {
  switch (status.type) {
    case Events.Disconnect:
      return { level: "warn", msg: "nats disconnected; reconnecting" };
    case Events.Reconnect:
      return { level: "info", msg: "nats reconnected" };
    case Events.LDM:
      return { level: "warn", msg: "nats server entering lame duck mode" };
    case Events.Error:
      return { level: "error", msg: "nats async error" };
    case DebugEvents.StaleConnection:
      return { level: "warn", msg: "nats connection stale" };
    default:
      return undefined;
  }
}
