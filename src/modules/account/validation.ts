import { badInput, isCleanSingleLine, singleLineText } from "../../kernel/index.ts";

/** Registration input as received from GraphQL. */
export interface RegisterInput {
  name: string;
  email: string;
  password: string;
}

/** Limits of registration input; lengths in Unicode code points. */
export const LIMITS = {
  nameMax: 100,
  /** RFC 5321 caps a forward path at 256 octets including `<>`, hence 254 for the address. */
  emailMax: 254,
  passwordMin: 8,
  /** Bounds the work one request can make the hasher do. */
  passwordMax: 1024,
} as const;

// Deliberately loose (one @, no spaces, a dot in the domain): the only real check of an
// address is mail reaching it; this catches typos without rejecting valid exotic addresses.
const EMAIL_RE = /^[^\s@]+@[^\s@.]+(?:\.[^\s@.]+)+$/;

const codePoints = (s: string): number => [...s].length;

/** NFC-normalises, trims and lower-cases an e-mail address: the form stored and compared. */
export const normaliseEmail = (email: string): string => email.normalize("NFC").trim().toLowerCase();

/**
 * Normalises and validates registration input. The name follows the kernel's text policy
 * (kernel/text.ts: NFC, trimmed, no control or bidi-control characters); the e-mail address
 * is normalised ({@link normaliseEmail}) and may not contain them either.
 * @returns the input with name and e-mail normalised (password untouched).
 * @throws AppError `BAD_USER_INPUT` with details `{ field }` naming the first invalid field.
 */
export function validateRegisterInput(input: RegisterInput): RegisterInput {
  const name = singleLineText(input.name, "name", { max: LIMITS.nameMax });
  const email = normaliseEmail(input.email);
  if (email.length > LIMITS.emailMax || !EMAIL_RE.test(email) || !isCleanSingleLine(email))
    throw badInput("email is not a valid e-mail address", { field: "email" });
  const p = codePoints(input.password);
  if (p < LIMITS.passwordMin) throw badInput(`password must be at least ${LIMITS.passwordMin} characters`, { field: "password" });
  if (p > LIMITS.passwordMax) throw badInput(`password must be at most ${LIMITS.passwordMax} characters`, { field: "password" });
  return { name, email, password: input.password };
}
