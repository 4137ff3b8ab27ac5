import KSUID from "ksuid";

/**
 * Ids are KSUIDs (https://github.com/segmentio/ksuid), from the `ksuid` package: 20 bytes = a
 * big-endian uint32 of seconds since the KSUID epoch (2014-05-13T16:53:20Z) followed by 16
 * random bytes, written as 27 base62 characters. Their string order is their creation second
 * order.
 *
 * (The package's generic base conversion costs ~3% of a createOrder's CPU in the orders
 * benchmark; a hand-written encoder was measured and not kept: ids are not what Switchyard is
 * for, and the maintained package wins over our own code.)
 */

/**
 * Returns a new KSUID string: 27 base62 characters, time-sortable to the second, 128 random
 * bits (from the CSPRNG).
 */
export function newId(): string {
  return KSUID.randomSync().string;
}

/** True when `id` is a syntactically valid KSUID string. */
export function isId(id: string): boolean {
  return /^[0-9A-Za-z]{27}$/.test(id);
}
