import { getRandomValues } from "node:crypto";

/**
 * Ids are KSUIDs (https://github.com/segmentio/ksuid): 20 bytes = a big-endian uint32 of
 * seconds since the KSUID epoch (2014-05-13T16:53:20Z) followed by 16 random bytes, written as
 * 27 base62 characters (`0-9A-Za-z`, zero-padded). Their string order is their creation second
 * order, and they are the same strings the `ksuid` package produced before: existing ids and
 * new ones sort and validate together.
 *
 * Generated here rather than with the `ksuid` package: its generic array base conversion and
 * per-id buffers cost ~3% of the CPU of a createOrder (several ids per order) in the orders
 * benchmark; this encoder does the same base62 conversion on five uint32 words.
 */

/** KSUID epoch, ms since the Unix epoch. */
const KSUID_EPOCH_MS = 1_400_000_000_000;
/** Base62 digits in KSUID order (ASCII order, so string order = numeric order). */
const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ID_LENGTH = 27;

/**
 * Random bytes are drawn in blocks (one `getRandomValues` call per 256 ids) and consumed 16
 * at a time: the call itself, not the bytes, is the cost for small requests.
 */
const POOL_WORDS = 4 * 256;
const pool = new Uint32Array(POOL_WORDS);
let poolOffset = POOL_WORDS;

/** Scratch words of the number being encoded (reused: the encoder is synchronous). */
const words = new Uint32Array(5);
/** 62³: the encoder takes three digits per division pass. */
const BASE3 = 62 * 62 * 62;

/**
 * Encodes the 160-bit big-endian number in {@link words} as 27 base62 characters, consuming
 * `words` (left zero). Schoolbook division by 62³ (nine passes of three digits), most
 * significant word first: each step's remainder × 2³² + word is below 62³ × 2³² ≈ 1.02e15 < 2⁵³,
 * so plain numbers are exact.
 */
function encodeWords(): string {
  let out = "";
  for (let pass = 0; pass < ID_LENGTH / 3; pass++) {
    let rem = 0;
    for (let w = 0; w < 5; w++) {
      const acc = rem * 0x1_0000_0000 + (words[w] as number);
      const q = Math.floor(acc / BASE3);
      words[w] = q;
      rem = acc - q * BASE3;
    }
    const r1 = Math.floor(rem / 62);
    // Least significant digits come out first: prepend.
    out = ALPHABET[Math.floor(r1 / 62)]! + ALPHABET[r1 % 62]! + ALPHABET[rem % 62]! + out;
  }
  return out;
}

/**
 * Returns a new KSUID string: 27 base62 characters, time-sortable to the second, 128 random
 * bits (from the CSPRNG, `crypto.getRandomValues`).
 */
export function newId(): string {
  return newIdAt(Date.now());
}

/**
 * {@link newId} for the creation time `nowMs` (ms since the Unix epoch): for tests.
 * @throws RangeError when `nowMs` is before the KSUID epoch or past its uint32 range (year 2150).
 */
export function newIdAt(nowMs: number): string {
  const seconds = Math.floor((nowMs - KSUID_EPOCH_MS) / 1000);
  if (!(seconds >= 0 && seconds <= 0xffff_ffff)) throw new RangeError(`time ${nowMs} ms is outside the KSUID range`);
  if (poolOffset === POOL_WORDS) {
    getRandomValues(pool);
    poolOffset = 0;
  }
  words[0] = seconds;
  words[1] = pool[poolOffset] as number;
  words[2] = pool[poolOffset + 1] as number;
  words[3] = pool[poolOffset + 2] as number;
  words[4] = pool[poolOffset + 3] as number;
  // Drawn bytes are never reused: each id takes its own 16.
  poolOffset += 4;
  return encodeWords();
}

/** True when `id` is a syntactically valid KSUID string. */
export function isId(id: string): boolean {
  return /^[0-9A-Za-z]{27}$/.test(id);
}
