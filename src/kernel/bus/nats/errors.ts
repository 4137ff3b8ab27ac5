/**
 * nats.js errors as the bus's typed errors, so callers of either transport catch the same
 * classes (tests/contract/bus.contract.ts holds both to it).
 */

import { ErrorCode, NatsError } from "nats";
import { BusClosedError, BusError, BusTimeoutError, InvalidSubjectError, NoRespondersError } from "../errors.ts";

/**
 * Maps a nats.js error to the bus's typed errors. `subject`/`timeoutMs` (ms) feed the request
 * errors. Errors that already are BusErrors (or not NatsErrors at all, e.g. RangeError) pass
 * through; a non-Error becomes BusError `BUS_ERROR`.
 *
 * | nats.js code                                 | bus error                      |
 * | -------------------------------------------- | ------------------------------ |
 * | `503` (no responders)                        | NoRespondersError              |
 * | `TIMEOUT`                                    | BusTimeoutError                |
 * | `CONNECTION_CLOSED`, `CONNECTION_DRAINING`   | BusClosedError                 |
 * | `BAD_SUBJECT`                                | InvalidSubjectError            |
 * | any other, e.g. `BAD_HEADER`                 | BusError `NATS_BAD_HEADER` (the code upper-snake-cased, `cause` set) |
 */
export function mapNatsError(err: unknown, subject: string, timeoutMs = 0): Error {
  if (err instanceof BusError) return err;
  if (!(err instanceof NatsError)) return err instanceof Error ? err : new BusError("BUS_ERROR", String(err));
  switch (err.code) {
    case ErrorCode.NoResponders:
      return new NoRespondersError(subject);
    case ErrorCode.Timeout:
      return new BusTimeoutError(subject, timeoutMs);
    case ErrorCode.ConnectionClosed:
    case ErrorCode.ConnectionDraining:
      return new BusClosedError();
    case ErrorCode.BadSubject:
      return new InvalidSubjectError(subject, err.message);
    default: {
      const mapped = new BusError(`NATS_${err.code.replace(/[^A-Za-z0-9]+/g, "_").toUpperCase()}`, err.message);
      (mapped as { cause?: unknown }).cause = err;
      return mapped;
    }
  }
}
