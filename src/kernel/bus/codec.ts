/**
 * Payload codecs shared by every bus transport. One encoder/decoder pair per process: they are
 * stateless, and allocating one per message would show up on the hot path.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The empty payload (length 0). Shared: a zero-length array has no bytes anyone could mutate. */
export const EMPTY: Uint8Array = new Uint8Array(0);

/** Encodes a string as UTF-8 bytes. */
export function encodeText(text: string): Uint8Array {
  return text.length === 0 ? EMPTY : encoder.encode(text);
}

/** Decodes UTF-8 bytes to a string; invalid sequences become U+FFFD (WHATWG `TextDecoder` default). */
export function decodeText(bytes: Uint8Array): string {
  return bytes.length === 0 ? "" : decoder.decode(bytes);
}

/**
 * Encodes a value as UTF-8 JSON bytes.
 * Throws `TypeError` when the value has no JSON form (`undefined`, a function, a symbol) or
 * contains a cycle or a bigint (the latter two thrown by `JSON.stringify` itself).
 */
export function encodeJson(value: unknown): Uint8Array {
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError("value has no JSON representation");
  return encoder.encode(text);
}

/**
 * Decodes UTF-8 JSON bytes. The result is not validated: `T` is the caller's claim (validate
 * untrusted input with a schema). Throws `SyntaxError` on invalid JSON, including an empty payload.
 */
export function decodeJson<T>(bytes: Uint8Array): T {
  return JSON.parse(decodeText(bytes)) as T;
}

/**
 * A JSON payload handed to the bus as a value rather than as bytes. A transport that crosses a
 * process boundary (NATS) sends {@link JsonPayload.bytes}; the in-memory transport hands the
 * value itself to the single recipient of a request or reply, so in one process a subgraph
 * request and its result are never stringified and parsed again (the JSON round trip was ~12%
 * of the monolith gateway's CPU in the gateways benchmark, bench/README.md).
 *
 * Ownership: the sender gives the value up. It must be a fresh, JSON-shaped value (plain
 * objects, arrays, strings, finite numbers, booleans, null) that the sender neither keeps nor
 * mutates afterwards, nor sends again (a retry sends bytes); the recipient may mutate it. Nothing
 * in it may reference the sender's own state (a cache entry, an error's `details` object kept
 * elsewhere). When a message reaches several recipients
 * (fan-out), each gets its own decoded copy, as over the wire.
 */
export class JsonPayload {
  #bytes: Uint8Array | undefined;
  /** @param value the JSON-shaped value (ownership passes to the bus). */
  constructor(readonly value: unknown) {}

  /**
   * The UTF-8 JSON encoding of the value, computed once.
   * @throws TypeError when the value has no JSON form (see {@link encodeJson}).
   */
  bytes(): Uint8Array {
    return (this.#bytes ??= encodeJson(this.value));
  }
}

/** Wraps a value as a {@link JsonPayload} (ownership passes to the bus). */
export function jsonPayload(value: unknown): JsonPayload {
  return new JsonPayload(value);
}
