/**
 * The reconnect buffer: publishes made while the NATS link is down, sent in order once it is back.
 * nats.js v2 does not keep them itself (every dial attempt resets its outbound buffer), so this
 * does what the Go client's reconnect buffer (`ReconnectBufSize`) does.
 */

import type { MsgHdrs } from "nats";
import type { LogSink } from "../../logger.ts";
import { safeLog } from "../../logger.ts";
import { BusError } from "../errors.ts";

/** One publish held while disconnected, as it will be handed to nats.js. */
export interface BufferedPublish {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly reply: string | undefined;
  readonly headers: MsgHdrs | undefined;
}

/** Holds publishes up to a byte limit and hands them back, oldest first. */
export class ReconnectBuffer {
  #items: BufferedPublish[] = [];
  #bytes = 0;

  /**
   * @param limitBytes what may be held, counted as payload bytes + subject length.
   * @param logger receives the "buffering" / "sent" / "dropped" lines.
   */
  constructor(
    readonly limitBytes: number,
    private readonly logger: Pick<LogSink, "info" | "warn"> | undefined,
  ) {}

  /** Publishes held right now. */
  get length(): number {
    return this.#items.length;
  }

  /** Bytes held right now (payload + subject length). */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Holds `item` behind the ones already held.
   * @throws BusError `BUS_RECONNECT_BUFFER_FULL` when it would take the buffer past its limit
   *   (the item is not held).
   */
  hold(item: BufferedPublish): void {
    const bytes = item.data.length + item.subject.length;
    if (this.#bytes + bytes > this.limitBytes) {
      throw new BusError(
        "BUS_RECONNECT_BUFFER_FULL",
        `disconnected from NATS and the reconnect buffer (${this.limitBytes} bytes) is full; "${item.subject}" not sent`,
      );
    }
    if (this.#items.length === 0)
      safeLog(this.logger, "warn", { subject: item.subject }, "nats disconnected; buffering publishes until reconnect");
    this.#items.push(item);
    this.#bytes += bytes;
  }

  /**
   * Empties the buffer into `send`, oldest first. A publish `send` throws for is logged and
   * skipped; the rest still go out. No-op when empty.
   */
  flush(send: (item: BufferedPublish) => void): void {
    if (this.#items.length === 0) return;
    const items = this.#items;
    this.#items = [];
    this.#bytes = 0;
    let sent = 0;
    for (const item of items) {
      try {
        send(item);
        sent++;
      } catch (err) {
        safeLog(this.logger, "warn", { err, subject: item.subject }, "buffered publish failed after reconnect");
      }
    }
    safeLog(this.logger, "info", { sent }, "nats reconnected; buffered publishes sent");
  }

  /** Forgets everything held (the bus closed before the link came back), logging how much. */
  drop(): void {
    if (this.#items.length === 0) return;
    safeLog(this.logger, "warn", { dropped: this.#items.length }, "bus closed while disconnected; buffered publishes dropped");
    this.#items = [];
    this.#bytes = 0;
  }
}
