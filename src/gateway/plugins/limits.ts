/**
 * Operation limits with graphql-armor (https://escape.tech/graphql-armor/docs/): depth, aliases,
 * lexical tokens, directives and static cost, checked before anything is planned or sent to a
 * subgraph. Armor reports a rejection as a plain `GraphQLError` ("Syntax Error: ..."); here each
 * one is re-reported from armor's `onReject` callback with a stable `extensions.code` instead
 * (`propagateOnRejection: false` keeps armor from throwing its own):
 *
 * | limit       | option           | code                  | checked while |
 * |-------------|------------------|-----------------------|---------------|
 * | depth       | `MAX_DEPTH`      | `QUERY_TOO_DEEP`      | validation    |
 * | aliases     | `MAX_ALIASES`    | `TOO_MANY_ALIASES`    | validation    |
 * | tokens      | `MAX_TOKENS`     | `TOO_MANY_TOKENS`     | parsing       |
 * | directives  | `MAX_DIRECTIVES` | `TOO_MANY_DIRECTIVES` | validation    |
 * | cost        | `MAX_COST`       | `QUERY_TOO_COMPLEX`   | validation    |
 *
 * Every rejection is a request error with `extensions: { code, limit }`, answered as yoga answers
 * validation errors (GraphQL over HTTP: 400 for `Accept: application/graphql-response+json`, 200
 * for legacy `application/json`). The token limit runs in the
 * parser, so a document over it is rejected before any other limit is looked at (a 1,000-alias
 * query is ~3,000 tokens: `TOO_MANY_TOKENS` with the default limits).
 */
import { costLimitPlugin } from "@escape.tech/graphql-armor-cost-limit";
import { maxAliasesPlugin } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthPlugin } from "@escape.tech/graphql-armor-max-depth";
import { maxDirectivesPlugin } from "@escape.tech/graphql-armor-max-directives";
import { maxTokensPlugin } from "@escape.tech/graphql-armor-max-tokens";
import type { GraphQLArmorRejectCallback } from "@escape.tech/graphql-armor-types";
import { GraphQLError } from "graphql";
import type { GatewayPlugin } from "./types.ts";

/** Limits per operation; 0 turns one off. */
export interface OperationLimits {
  /** Max selection depth (fragments count their own depth). */
  maxDepth: number;
  /** Max aliases, `__typename` aliases included. */
  maxAliases: number;
  /** Max lexical tokens of the whole document. */
  maxTokens: number;
  /** Max directives. */
  maxDirectives: number;
  /** Max static cost (armor's model: object field 2, leaf 1, times 1.5 per level of depth). */
  maxCost: number;
}

/** Documented error codes of the limits, by limit. */
export const LIMIT_CODES = {
  maxDepth: "QUERY_TOO_DEEP",
  maxAliases: "TOO_MANY_ALIASES",
  maxTokens: "TOO_MANY_TOKENS",
  maxDirectives: "TOO_MANY_DIRECTIVES",
  maxCost: "QUERY_TOO_COMPLEX",
} as const satisfies Record<keyof OperationLimits, string>;

// Armor prefixes its messages so that servers treat them as client errors; ours carry a code instead.
const cleanMessage = (err: GraphQLError): string => err.message.replace(/^Syntax Error: /, "");

const limitError = (err: GraphQLError, code: string, limit: number): GraphQLError =>
  new GraphQLError(cleanMessage(err), { extensions: { code, limit } });

/**
 * Validation-time limits report into the validation context, so the client gets every violated
 * limit (and schema errors) in one response, the same way as graphql-js's own rules.
 */
const reportInto =
  (code: string, limit: number): GraphQLArmorRejectCallback =>
  (ctx, err) => {
    ctx?.reportError(limitError(err, code, limit));
  };

/**
 * The graphql-armor plugins for `limits` (a limit of 0 is left out).
 * Errors: see the table above (request errors: no `data`).
 */
export function useOperationLimits(limits: OperationLimits): GatewayPlugin[] {
  const plugins: GatewayPlugin[] = [];
  const common = { exposeLimits: true, propagateOnRejection: false } as const;
  if (limits.maxTokens > 0) {
    const n = limits.maxTokens;
    // Parsing has no context to report into: the callback throws, which aborts the parse and
    // becomes the request's only error.
    const reject: GraphQLArmorRejectCallback = (_ctx, err) => {
      throw limitError(err, LIMIT_CODES.maxTokens, n);
    };
    plugins.push(maxTokensPlugin({ ...common, n, onReject: [reject] }));
  }
  if (limits.maxDepth > 0) {
    plugins.push(maxDepthPlugin({ ...common, n: limits.maxDepth, onReject: [reportInto(LIMIT_CODES.maxDepth, limits.maxDepth)] }));
  }
  if (limits.maxAliases > 0) {
    // Armor exempts `__typename` aliases by default; they cost a resolver call each all the same.
    plugins.push(
      maxAliasesPlugin({
        ...common,
        n: limits.maxAliases,
        allowList: [],
        onReject: [reportInto(LIMIT_CODES.maxAliases, limits.maxAliases)],
      }),
    );
  }
  if (limits.maxDirectives > 0) {
    plugins.push(
      maxDirectivesPlugin({ ...common, n: limits.maxDirectives, onReject: [reportInto(LIMIT_CODES.maxDirectives, limits.maxDirectives)] }),
    );
  }
  if (limits.maxCost > 0) {
    plugins.push(costLimitPlugin({ ...common, maxCost: limits.maxCost, onReject: [reportInto(LIMIT_CODES.maxCost, limits.maxCost)] }));
  }
  return plugins;
}
