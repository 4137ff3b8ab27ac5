import KSUID from "ksuid";

/**
 * Returns a new KSUID string (27 base62 chars, time-sortable to the second; 128 random bits).
 * Format: https://github.com/segmentio/ksuid
 */
export function newId(): string {
  return KSUID.randomSync().string;
}

/** True when `id` is a syntactically valid KSUID string. */
export function isId(id: string): boolean {
  return /^[0-9A-Za-z]{27}$/.test(id);
}
