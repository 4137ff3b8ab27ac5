/**
 * NATS subject syntax (https://docs.nats.io/nats-concepts/subjects): tokens separated by `.`,
 * no empty tokens, no whitespace. In subscriptions `*` matches exactly one token and `>`
 * (last token only) matches one or more. As in nats-server, a wildcard is only a wildcard when
 * it is a whole token: `a*` or `b>` are ordinary literal tokens.
 */

import { InvalidSubjectError } from "./errors.ts";

const DOT = 0x2e;
const STAR = 0x2a;
const GT = 0x3e;

/** The whitespace nats-server rejects in subjects (space, \t, \n, \f, \r). */
function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d;
}

/** Returns why `s` is invalid, or `undefined` when valid. One pass, no allocation. */
function problem(s: unknown, wildcards: boolean): string | undefined {
  if (typeof s !== "string") return "not a string";
  const len = s.length;
  if (len === 0) return "empty";
  let start = 0;
  for (let i = 0; i <= len; i++) {
    const c = i < len ? s.charCodeAt(i) : DOT;
    if (c === DOT) {
      const size = i - start;
      if (size === 0) return "empty token";
      if (size === 1) {
        const t = s.charCodeAt(start);
        if (t === STAR || t === GT) {
          if (!wildcards) return "wildcards are not allowed when publishing";
          if (t === GT && i !== len) return "'>' must be the last token";
        }
      }
      start = i + 1;
    } else if (isWhitespace(c)) {
      return "contains whitespace";
    }
  }
  return undefined;
}

/**
 * Checks a concrete subject, as used by `publish`, `request` and reply subjects: non-empty,
 * no empty tokens, no whitespace, no `*`/`>` tokens.
 * @throws InvalidSubjectError when the subject is not valid.
 */
export function validateSubject(subject: string): void {
  const reason = problem(subject, false);
  if (reason !== undefined) throw new InvalidSubjectError(String(subject), reason);
}

/**
 * Checks a subscription pattern: like {@link validateSubject}, but `*` may be any token and
 * `>` the last token.
 * @throws InvalidSubjectError when the pattern is not valid.
 */
export function validatePattern(pattern: string): void {
  const reason = problem(pattern, true);
  if (reason !== undefined) throw new InvalidSubjectError(String(pattern), reason);
}

/** True when a (valid) pattern contains a `*` or `>` token, i.e. can match more than one subject. */
export function hasWildcard(pattern: string): boolean {
  const len = pattern.length;
  for (let i = 0; i < len; i++) {
    const c = pattern.charCodeAt(i);
    if (
      (c === STAR || c === GT) &&
      (i === 0 || pattern.charCodeAt(i - 1) === DOT) &&
      (i + 1 === len || pattern.charCodeAt(i + 1) === DOT)
    ) {
      return true;
    }
  }
  return false;
}

/**
 * True when `subject` matches `pattern` with NATS rules. Both are assumed already validated
 * ({@link validatePattern}, {@link validateSubject}): this runs per message, so it only walks the
 * two strings once and allocates nothing.
 */
export function matches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const pl = pattern.length;
  const sl = subject.length;
  let p = 0;
  // `s` is where the next subject token starts; `s > sl` means the subject is used up.
  let s = 0;
  while (p < pl) {
    let pe = pattern.indexOf(".", p);
    if (pe === -1) pe = pl;
    if (s > sl) return false;
    if (pe - p === 1) {
      const c = pattern.charCodeAt(p);
      // `>` is always last (validated) and needs at least one token left, which `s <= sl` guarantees.
      if (c === GT) return true;
      if (c === STAR) {
        const se = subject.indexOf(".", s);
        s = se === -1 ? sl + 1 : se + 1;
        p = pe + 1;
        continue;
      }
    }
    let se = subject.indexOf(".", s);
    if (se === -1) se = sl;
    const size = pe - p;
    if (se - s !== size) return false;
    for (let k = 0; k < size; k++) {
      if (pattern.charCodeAt(p + k) !== subject.charCodeAt(s + k)) return false;
    }
    s = se + 1;
    p = pe + 1;
  }
  return s > sl;
}
