/**
 * The stream a module's events are stored in: one per publishing module, `EVENTS_<MODULE>`,
 * holding exactly the subjects it declares, file storage, limits retention, and a 2 min duplicate
 * window so republishing an event with the same id (`Nats-Msg-Id`) is stored once
 * (https://docs.nats.io/using-nats/developer/develop_jetstream/model_deep_dive#message-deduplication).
 */

import { RetentionPolicy, StorageType, nanos, type JetStreamManager } from "nats";
import { BusClosedError, BusError } from "../../bus/errors.ts";
import { apiErrorOf, isClosedError, message, withCause } from "./errors.ts";

/** Stream duplicate window, ms: republishing an event id within it is stored once. */
export const DUPLICATE_WINDOW_MS = 120_000;

/** JetStream API error code: stream name already in use with a different configuration. */
const JS_ERR_STREAM_NAME_IN_USE = 10058;

/** `EVENTS_<MODULE>`: upper case, every character outside `[A-Z0-9]` → `_`. `"order"` → `EVENTS_ORDER`. */
export function streamName(module: string): string {
  return `EVENTS_${module.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

/**
 * Creates stream `EVENTS_<MODULE>` with exactly `subjects` (non-empty, already validated), or
 * updates its subjects when it exists with another configuration.
 * @throws BusClosedError when the connection closed; BusError `EVENTS_DECLARE_FAILED` (with
 *   `cause`) otherwise, e.g. subjects overlapping another module's stream, JetStream off.
 */
export async function declareStream(
  manager: () => Promise<JetStreamManager>,
  module: string,
  subjects: readonly string[],
  replicas: number,
): Promise<void> {
  const name = streamName(module);
  try {
    const jsm = await manager();
    const wanted = { subjects: [...subjects], duplicate_window: nanos(DUPLICATE_WINDOW_MS) };
    try {
      await jsm.streams.add({
        name,
        ...wanted,
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        num_replicas: replicas,
      });
    } catch (err) {
      if (apiErrorOf(err)?.err_code !== JS_ERR_STREAM_NAME_IN_USE) throw err;
      // Exists with another config (the module's subjects changed): update what may change.
      await jsm.streams.update(name, wanted);
    }
  } catch (err) {
    if (isClosedError(err)) throw new BusClosedError();
    throw withCause(
      new BusError(
        "EVENTS_DECLARE_FAILED",
        `cannot declare stream ${name} for ${subjects.join(", ")}: ${apiErrorOf(err)?.description ?? message(err)}`,
      ),
      err,
    );
  }
}
