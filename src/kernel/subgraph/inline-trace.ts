import type { ExecutionResult, FormattedExecutionResult, GraphQLSchema } from "graphql";
import { createYoga, isAsyncIterable, type Plugin, type YogaServerInstance } from "graphql-yoga";
import { useApolloInlineTrace } from "@graphql-yoga/plugin-apollo-inline-trace";
import type { SubgraphContext } from "../module.ts";

/**
 * Bus header (same name and value as Apollo's HTTP header) with which a gateway asks a subgraph
 * for an Apollo federated trace: `apollo-federation-include-trace: ftv1`. The subgraph then
 * answers with `extensions.ftv1`, the base64 protobuf `Trace` (timings of every resolver).
 */
export const FTV1_HEADER = "apollo-federation-include-trace";
/** The only value of {@link FTV1_HEADER} that asks for a trace. */
export const FTV1 = "ftv1";

/** One subgraph request as it arrives on the bus. */
export interface TracedRequest {
  query: string;
  variables?: Record<string, unknown> | null;
  operationName?: string | null;
}

/**
 * Executes subgraph requests for which the gateway asked an `ftv1` trace, with graphql-yoga and
 * `@graphql-yoga/plugin-apollo-inline-trace` (the plugin reads the header from a request, so the
 * bus request is replayed as an in-memory `Request`; nothing goes over the network).
 *
 * Only traced requests take this path (development, on demand): untraced ones keep the subgraph
 * server's direct `execute`, which has no per-resolver instrumentation cost.
 *
 * `format` maps the raw result's errors exactly as the untraced path does (stable codes,
 * masked internals), and runs before the trace records errors, so a trace never carries an
 * unmasked message. The yoga instance is built on first use.
 */
export function createInlineTracer(
  schema: GraphQLSchema,
  format: (result: ExecutionResult, ctx: SubgraphContext) => FormattedExecutionResult,
): (req: TracedRequest, ctx: SubgraphContext) => Promise<FormattedExecutionResult> {
  let yoga: YogaServerInstance<SubgraphContext, object> | undefined;
  const build = (): YogaServerInstance<SubgraphContext, object> => {
    const mapErrors: Plugin<SubgraphContext> = {
      onExecutionResult({ result, setResult, context }) {
        if (!result || isAsyncIterable(result) || Array.isArray(result)) return;
        // The server context passed to `yoga.fetch` below is the SubgraphContext.
        setResult(format(result as ExecutionResult, context as unknown as SubgraphContext) as ExecutionResult);
      },
    };
    return createYoga<SubgraphContext>({
      schema,
      // mapErrors first: its onExecutionResult runs before the trace plugin's.
      plugins: [mapErrors, useApolloInlineTrace()],
      // Errors are already mapped and masked by `format`; yoga's own masking would hide the codes.
      maskedErrors: false,
      graphqlEndpoint: "/graphql",
      graphiql: false,
      landingPage: false,
      logging: false,
    });
  };
  return async (req, ctx) => {
    yoga ??= build();
    const res = await yoga.fetch(
      "http://subgraph/graphql",
      {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", [FTV1_HEADER]: FTV1 },
        body: JSON.stringify({ query: req.query, variables: req.variables ?? undefined, operationName: req.operationName ?? undefined }),
      },
      ctx,
    );
    return (await res.json()) as FormattedExecutionResult;
  };
}
