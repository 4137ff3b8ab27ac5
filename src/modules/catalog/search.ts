import { badInput } from "../../kernel/index.ts";

/**
 * Matches a search's `totalCount` counts exactly: above it, `totalCount` is this bound and
 * `totalCountIsExact` false (counting every match of a broad term in a large catalog costs
 * more than the page itself; nobody pages through 1,000 results).
 */
// The schema (contract/schema.ts, totalCount) states this number: change both together.
export const SEARCH_COUNT_BOUND = 1000;

/**
 * A search matching more products than this (the searches whose totalCount is bounded) ranks
 * this many candidates, those with every term in the name first, instead of scoring and
 * sorting every match: its pages come from these candidates (1,000 results at most), each
 * with its exact score. Searches matching fewer are ranked over all their matches.
 */
export const SEARCH_RANK_CANDIDATES = SEARCH_COUNT_BOUND;

/** Longest accepted search string, in characters (bounds the cost of a prefix query). */
export const MAX_SEARCH_LENGTH = 200;

/**
 * Splits user search input into plain word tokens (runs of letters, digits and combining
 * marks, as FTS5's unicode61 tokenizer sees words). Everything else (quotes, `*`, `:`,
 * parentheses, `-`) only separates words, so no input can carry query syntax into the engine.
 * Returns `[]` for absent, empty or punctuation-only input: no text filter.
 *
 * @example searchTerms('"foo" OR bar*') // ["foo", "OR", "bar"]
 * @throws AppError BAD_USER_INPUT when longer than {@link MAX_SEARCH_LENGTH}.
 */
export function searchTerms(input: string | null | undefined): string[] {
  if (!input) return [];
  if (input.length > MAX_SEARCH_LENGTH) {
    throw badInput(`search must be at most ${MAX_SEARCH_LENGTH} characters`, { length: input.length });
  }
  return input.match(/[\p{L}\p{N}\p{M}]+/gu) ?? [];
}
