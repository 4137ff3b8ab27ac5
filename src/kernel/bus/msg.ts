import { JsonPayload, decodeJson, decodeText } from "./codec.ts";
import type { Bus, Headers, Msg, Payload } from "./types.ts";

/**
 * The one {@link Msg} both transports deliver: payload, headers and a reply subject that
 * `respond` publishes to on the bus the message came from.
 */
export class BusMsg implements Msg {
  readonly #bus: Pick<Bus, "publish">;
  readonly #payload: Payload;

  /**
   * @param payload payload bytes, or a JSON value handed over in process (owned by the
   *   message: transports copy or hand over)
   * @param reply reply subject (`_INBOX.…`) for request/reply, else undefined
   */
  constructor(
    readonly subject: string,
    payload: Payload,
    readonly headers: Headers,
    readonly reply: string | undefined,
    bus: Pick<Bus, "publish">,
  ) {
    this.#payload = payload;
    this.#bus = bus;
  }

  get data(): Uint8Array {
    const p = this.#payload;
    return p instanceof JsonPayload ? p.bytes() : p;
  }

  json<T>(): T {
    const p = this.#payload;
    return p instanceof JsonPayload ? (p.value as T) : decodeJson<T>(p);
  }

  string(): string {
    return decodeText(this.data);
  }

  /** Publishes the reply; false (nothing sent) when the message expects none. */
  respond(data?: Payload, opts?: { headers?: Headers }): boolean {
    if (this.reply === undefined) return false;
    this.#bus.publish(this.reply, data, opts?.headers === undefined ? undefined : { headers: opts.headers });
    return true;
  }
}

/** Default of `RequestOptions.timeoutMs`, ms (both transports). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;

/**
 * The request timeout of `opts` (ms), {@link DEFAULT_REQUEST_TIMEOUT_MS} when unset, or the
 * RangeError a transport rejects the request with when it is not a positive finite number.
 */
export function requestTimeoutMs(opts: { timeoutMs?: number } | undefined): number | RangeError {
  const timeoutMs = opts?.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  return timeoutMs > 0 && Number.isFinite(timeoutMs)
    ? timeoutMs
    : new RangeError(`timeoutMs must be a positive number of ms, got ${timeoutMs}`);
}
