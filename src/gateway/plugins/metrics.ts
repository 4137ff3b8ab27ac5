import { getOperationAST, type ExecutionResult, type GraphQLError } from "graphql";
import type { Span } from "@opentelemetry/api";
import { isAsyncIterable } from "@graphql-tools/utils";
import { Counter } from "prom-client";
import { BoundedLabel, graphqlOperationDuration, graphqlOperationErrors, metricsRegistry, secondsSince } from "../../kernel/metrics.ts";
import { responseCacheTotals } from "./response-cache.ts";
import { SpanKind, SpanStatusCode, tracer, unsampledActiveSpan } from "../../kernel/tracing.ts";
import type { GatewayPlugin } from "./types.ts";

/**
 * Response cache activity of every cache of this process (read from the cache's own totals at
 * scrape time): `result` is `hit`, `miss`, `stored` or `invalidation`.
 */
export const responseCacheEvents = new Counter({
  name: "switchyard_response_cache_total",
  help: "Gateway response cache activity, by result (hit, miss, stored, invalidation).",
  labelNames: ["result"] as const,
  registers: [metricsRegistry],
  collect() {
    this.reset();
    this.inc({ result: "hit" }, responseCacheTotals.hits);
    this.inc({ result: "miss" }, responseCacheTotals.misses);
    this.inc({ result: "stored" }, responseCacheTotals.stored);
    this.inc({ result: "invalidation" }, responseCacheTotals.invalidations);
  },
});

/**
 * GraphQL operation metrics and spans (an envelop plugin):
 * - `switchyard_graphql_operation_duration_seconds{operation,type}` per executed operation,
 *   and `switchyard_graphql_operation_errors_total{operation,type,code}` per error in its
 *   result; documents that fail validation count as `operation="(invalid)"`;
 * - a span `graphql.<type> <operation>` around execution, made the active span (envelop's
 *   `instrumentation.execute` wraps the execute call) so that every subgraph fetch of the
 *   query plan is its child.
 * Operation names are client-chosen, so they are bounded ({@link BoundedLabel}): the first
 * 200 distinct names, then `other`; anonymous operations are `(anonymous)`.
 */
export function useOperationMetrics(): GatewayPlugin {
  const names = new BoundedLabel(200);
  const codes = new BoundedLabel(50);
  const spans = new WeakMap<object, Span>();
  const countErrors = (
    errors: readonly (GraphQLError | Error | { extensions?: Record<string, unknown> })[],
    operation: string,
    type: string,
  ): void => {
    for (const e of errors) {
      const code = (e as { extensions?: Record<string, unknown> }).extensions?.["code"];
      graphqlOperationErrors.inc({ operation, type, code: codes.get(typeof code === "string" ? code : "UNKNOWN") });
    }
  };
  return {
    instrumentation: {
      // No span in an unsampled trace (tracing.ts unsampledActiveSpan): `span?.` below is then a no-op.
      // startActiveSpan makes the span active for `wrapped` (and every subgraph fetch under it).
      execute: (payload, wrapped) =>
        unsampledActiveSpan()
          ? wrapped()
          : tracer().startActiveSpan("graphql.execute", { kind: SpanKind.INTERNAL }, async (span) => {
              spans.set(payload.context, span);
              try {
                await wrapped();
              } finally {
                span.end();
              }
            }),
    },
    onValidate() {
      return ({ result }) => {
        if (result.length) countErrors(result, "(invalid)", "unknown");
      };
    },
    onExecute({ args }) {
      const start = performance.now();
      const op = getOperationAST(args.document, args.operationName);
      const type = op?.operation ?? "unknown";
      const operation = names.get(op?.name?.value ?? args.operationName ?? "(anonymous)");
      const span = spans.get(args.contextValue as object);
      span?.updateName(`graphql.${type} ${operation}`);
      span?.setAttribute("graphql.operation.type", type);
      span?.setAttribute("graphql.operation.name", operation);
      return {
        onExecuteDone({ result }) {
          graphqlOperationDuration.observe({ operation, type }, secondsSince(start));
          if (isAsyncIterable(result)) return;
          const errors = (result as ExecutionResult).errors ?? [];
          if (errors.length) {
            countErrors(errors, operation, type);
            span?.setStatus({ code: SpanStatusCode.ERROR, message: `${errors.length} error(s)` });
          }
        },
      };
    },
  };
}
