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
