/**
 * Bus headers (a plain record) to and from nats.js headers. NATS headers are MIME-style
 * (https://github.com/nats-io/nats-architecture-and-design/blob/main/adr/ADR-4.md): values are
 * trimmed and may not contain CR/LF, keys must be printable ASCII without `:`; key case is kept
 * exactly as sent (`Match.Exact`, nats.js's default).
 */

import { headers as natsHeaders, type MsgHdrs } from "nats";
import type { Headers } from "../types.ts";
import { mapNatsError } from "./errors.ts";

/**
 * Our header record to nats.js headers; `undefined` values are left out, and no header at all
 * gives `undefined` (nats.js then sends a plain `PUB`).
 * @throws BusError `NATS_BAD_HEADER` for a key or value NATS cannot carry.
 */
export function toNatsHeaders(h: Headers | undefined): MsgHdrs | undefined {
  if (h === undefined) return undefined;
  let out: MsgHdrs | undefined;
  for (const key in h) {
    const value = h[key];
    if (value === undefined) continue;
    out ??= natsHeaders();
    try {
      out.set(key, value);
    } catch (err) {
      // nats.js rejects keys with ':'/control chars and values with CR/LF (they would break framing).
      throw mapNatsError(err, "");
    }
  }
  return out;
}

/** nats.js headers to our record. Repeated keys (other clients may send them) join with ", " as HTTP does. */
export function fromNatsHeaders(h: MsgHdrs | undefined): Headers {
  const out: Headers = {};
  if (h === undefined) return out;
  for (const [key, values] of h) out[key] = values.length === 1 ? (values[0] ?? "") : values.join(", ");
  return out;
}
