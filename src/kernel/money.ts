/**
 * Money on the API: `Money { amount: String!, currency: String!, cents: Int! }`, a
 * `@shareable` value type each subgraph declares identically. Internally money is always an
 * integer number of minor units (cents). `amount` is exact for any safe integer; `cents` is a
 * GraphQL Int (32-bit), which every stored amount fits because writes are bounded: product
 * prices <= 100,000,000 (catalog), order totals <= `ORDER_MAX_TOTAL_CENTS` <= 2^31 - 1 (checked
 * by the catalog as it reserves), payments <= 2^31 - 1.
 */
export interface Money {
  /** Decimal string with 2 places, e.g. `"19.99"`. */
  amount: string;
  /** ISO 4217 code, e.g. `"USD"`. */
  currency: string;
  /** Integer minor units. */
  cents: number;
}

/**
 * Builds the API shape from integer cents. Throws `RangeError` for non-integer cents.
 * @example money(1999, "USD") // { amount: "19.99", currency: "USD", cents: 1999 }
 */
export function money(cents: number, currency: string): Money {
  if (!Number.isSafeInteger(cents)) throw new RangeError(`cents must be an integer, got ${cents}`);
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(cents);
  const amount = `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
  return { amount, currency, cents };
}

/** The SDL of the shared Money value type; every subgraph that returns money includes it verbatim. */
export const MONEY_SDL = /* GraphQL */ `
"""An amount of money. Internally integer minor units; \`amount\` is the decimal form."""
type Money @shareable {
  "Decimal with 2 places, e.g. \\"19.99\\"."
  amount: String!
  "ISO 4217 currency code."
  currency: String!
  """
  Integer minor units (cents). Every amount the API accepts fits: prices are at most
  100000000 and order totals at most ORDER_MAX_TOTAL_CENTS (at most 2147483647).
  """
  cents: Int!
}
`;
