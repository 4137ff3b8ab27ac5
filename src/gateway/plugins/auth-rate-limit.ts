/**
 * The registration/login budget (`RATE_LIMIT_AUTH_MAX` per client IP per `RATE_LIMIT_WINDOW_S`,
 * default 10 per minute): every occurrence of a Mutation field of `RATE_LIMIT_AUTH_FIELDS`
 * (default `register`, `login`, `refreshToken`) in an executed mutation counts as one, so
 * aliasing `login` 30 times in one request is 30 attempts, not one. Counted at execution, where
 * the operation is known (the HTTP middleware does not parse GraphQL), for HTTP and WebSocket
 * operations alike (ws.ts runs the same enveloped `execute`).
 *
 * Over the budget the operation does not run: a `RATE_LIMITED` error with
 * `extensions.retryAfterS`, answered over HTTP as 429 with `Retry-After` (yoga's
 * `extensions.http`), over a WebSocket as that operation's result. The budget is keyed by the
 * client IP only: a token does not lift it. A store failure lets the operation run (logged).
 */
import { getOperationAST, Kind, type DocumentNode, type FragmentDefinitionNode, type SelectionSetNode } from "graphql";
import type { Logger } from "../../kernel/logger.ts";
import type { GatewayContext } from "../context.ts";
import { hitAuthBudget, rateLimitedError, storeFailureLogger, type RateLimitDecision, type RateLimits } from "../middleware/rate-limit.ts";
import type { GatewayPlugin } from "./types.ts";

/**
 * How many root fields named in `fields` the mutation `operationName` of `document` selects
 * (through inline fragments and fragment spreads; `@skip`/`@include` are not evaluated, so a
 * skipped field counts too). 0 for a query or subscription.
 */
export function countRootMutationFields(
  document: DocumentNode,
  operationName: string | null | undefined,
  fields: ReadonlySet<string>,
): number {
  const op = getOperationAST(document, operationName);
  if (op?.operation !== "mutation") return 0;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const seen = new Set<string>();
  const count = (set: SelectionSetNode): number => {
    let n = 0;
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) n += fields.has(s.name.value) ? 1 : 0;
      else if (s.kind === Kind.INLINE_FRAGMENT) n += count(s.selectionSet);
      else {
        const f = fragments.get(s.name.value);
        // A spread seen before is counted again only once per name: validation refuses cycles anyway.
        if (f && !seen.has(f.name.value)) {
          seen.add(f.name.value);
          n += count(f.selectionSet);
          seen.delete(f.name.value);
        }
      }
    }
    return n;
  };
  return count(op.selectionSet);
}

/** Options of the registration/login budget plugin: the budget and which Mutation fields count. */
export interface AuthRateLimitOptions {
  /** The gateway's budgets (middleware/rate-limit.ts); the per-IP registration/login budget is counted here. */
  limits: RateLimits;
  /** Mutation field names counted (`RATE_LIMIT_AUTH_FIELDS`). */
  fields: readonly string[];
  /** Store failures are logged here (at most one line per 10 s). */
  logger: Logger;
}

/** The plugin; see the file comment. None when the auth budget is off. */
export function useAuthRateLimit(opts: AuthRateLimitOptions): GatewayPlugin | undefined {
  if (!opts.limits.auth || opts.fields.length === 0) return undefined;
  const fields = new Set(opts.fields);
  const onStoreError = storeFailureLogger(opts.logger, "registration/login operations");
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const count = countRootMutationFields(args.document, args.operationName, fields);
      if (count === 0) return;
      const ctx = args.contextValue as GatewayContext;
      let decision: RateLimitDecision | undefined;
      try {
        decision = await hitAuthBudget(opts.limits, ctx.clientIp ?? "unknown", count);
      } catch (err) {
        onStoreError(err);
        return;
      }
      if (!decision || decision.allowed) return;
      // Over HTTP the status and Retry-After come from `extensions.http` (yoga strips it from the body).
      const http = ctx.transport === "ws" ? {} : { http: { status: 429, headers: { "retry-after": String(decision.resetS) } } };
      setResultAndStopExecution({ errors: [rateLimitedError(decision, "registration/login operations", http)] });
    },
  };
}
