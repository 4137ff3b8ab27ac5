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

/** KSUID epoch, ms since the Unix epoch. */
const KSUID_EPOCH_MS = 1_400_000_000_000;

/**
 * Returns a new KSUID string: 27 base62 characters, time-sortable to the second, 128 random
 * bits (from the CSPRNG).
 */
export function newId(): string {
  return KSUID.randomSync().string;
}

/**
 * {@link newId} for the creation time `nowMs` (ms since the Unix epoch): for tests.
 * @throws RangeError when `nowMs` is before the KSUID epoch or past its uint32 range (year 2150).
 */
export function newIdAt(nowMs: number): string {
  const seconds = Math.floor((nowMs - KSUID_EPOCH_MS) / 1000);
  if (!(seconds >= 0 && seconds <= 0xffff_ffff)) throw new RangeError(`time ${nowMs} ms is outside the KSUID range`);
  return KSUID.randomSync(nowMs).string;
}

/** True when `id` is a syntactically valid KSUID string. */
export function isId(id: string): boolean {
  return /^[0-9A-Za-z]{27}$/.test(id);
}
