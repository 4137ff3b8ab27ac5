/**
 * The input policy for text that people name things with (account names, product and category
 * names, descriptions), applied by the modules before anything is written:
 *
 * 1. Unicode NFC normalisation, so "é" typed as one code point or as "e" + combining accent is
 *    stored, compared (unique names) and searched as the same string;
 * 2. leading and trailing white space trimmed (`String.prototype.trim`);
 * 3. refused with `BAD_USER_INPUT` (`{ field }`):
 *    - ill-formed UTF-16 (a lone surrogate, which JSON can carry as `"\ud800"` but no UTF-8
 *      store can hold);
 *    - control characters (Unicode `Cc`: C0 U+0000–U+001F, DEL U+007F, C1 U+0080–U+009F),
 *      NUL included; multi-line text (descriptions) may contain line feeds and tabs, and a CR or
 *      CR LF is turned into a line feed first;
 *    - bidirectional embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069),
 *      which can make a name display as something else ("Trojan Source");
 *    - in single-line text, the line and paragraph separators U+2028 and U+2029;
 * 4. length checked in code points after all of the above.
 *
 * Secrets (passwords) are not text in this sense and are left as they are.
 */
import { badInput } from "./errors.ts";

/** Bounds of one text field, in Unicode code points after normalisation and trimming. */
export interface TextBounds {
  /** Fewest code points (default 1: required and not blank). */
  min?: number;
  /** Most code points. */
  max: number;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const BIDI_CONTROLS = "\\u202A-\\u202E\\u2066-\\u2069";
const SINGLE_LINE_FORBIDDEN = new RegExp(`[\\u0000-\\u001F\\u007F-\\u009F\\u2028\\u2029${BIDI_CONTROLS}]`);
// Tab (U+0009) and line feed (U+000A) allowed.
const MULTI_LINE_FORBIDDEN = new RegExp(`[\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F${BIDI_CONTROLS}]`);

const codePoints = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

function clean(raw: string, field: string, bounds: TextBounds, forbidden: RegExp, what: string): string {
  if (LONE_SURROGATE.test(raw)) throw badInput(`${field} is not well-formed Unicode (lone surrogate)`, { field });
  const text = raw.normalize("NFC").trim();
  if (forbidden.test(text)) throw badInput(`${field} must not contain ${what}`, { field });
  const min = bounds.min ?? 1;
  const n = codePoints(text);
  if (n < min || n > bounds.max)
    throw badInput(min > 0 ? `${field} must be ${min} to ${bounds.max} characters` : `${field} must be at most ${bounds.max} characters`, {
      field,
    });
  return text;
}

/**
 * A one-line text input (a name): see the file comment.
 * @returns the NFC-normalised, trimmed text.
 * @throws AppError BAD_USER_INPUT `{ field }` for a lone surrogate, a control, bidi-control or
 *   line-separator character, or a length outside `bounds`.
 */
export function singleLineText(raw: string, field: string, bounds: TextBounds): string {
  return clean(raw, field, bounds, SINGLE_LINE_FORBIDDEN, "control characters, line breaks or bidirectional controls");
}

/**
 * A multi-line text input (a description): as {@link singleLineText}, but line feeds and tabs
 * are kept (CR LF and CR become LF).
 * @throws AppError BAD_USER_INPUT `{ field }`.
 */
export function multiLineText(raw: string, field: string, bounds: TextBounds): string {
  return clean(
    raw.replace(/\r\n?/g, "\n"),
    field,
    bounds,
    MULTI_LINE_FORBIDDEN,
    "control characters other than line feeds and tabs, or bidirectional controls",
  );
}

/**
 * True when `s` has none of the characters {@link singleLineText} refuses (controls, line
 * separators, bidi controls, lone surrogates). For inputs that are only compared, never stored
 * (e-mail addresses at login).
 */
export function isCleanSingleLine(s: string): boolean {
  return !LONE_SURROGATE.test(s) && !SINGLE_LINE_FORBIDDEN.test(s);
}
