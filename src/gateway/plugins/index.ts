import type { GatewayPlugin, PluginSetup } from "./types.ts";
import { useAuthDirectives } from "./auth-directives.ts";
import { persistedOperationsFromConfig } from "./persisted-operations.ts";
import { responseCacheFromConfig } from "./response-cache.ts";
import { useSubgraphTimings } from "./subgraph-timings.ts";
import { useOperationMetrics } from "./metrics.ts";
import { useCsrfPrevention } from "./csrf.ts";
import { useIntrospectionSwitch } from "./introspection.ts";
import { useOperationLimits } from "./limits.ts";
import { useAuthRateLimit } from "./auth-rate-limit.ts";
import { useSubscriptionLimits, type SubscriptionSlots } from "./subscription-limits.ts";
import type { RateLimits } from "../middleware/rate-limit.ts";
import { useJsonDepthLimit } from "./json-depth.ts";

export type { GatewayPlugin };

/** What the gateway's plugins need to set themselves up. */
export interface GatewayPluginOptions extends PluginSetup {
  /** The rate-limit budgets (middleware/index.ts); the registration/login budget is counted by a plugin. */
  rateLimits?: RateLimits;
  /** Live subscription counts (subscription-limits.ts), shared with the WebSocket server. */
  subscriptionSlots?: SubscriptionSlots;
}

/**
 * The gateway's plugin list, in order (yoga runs hooks in this order). Each capability lives
 * in its own file in this folder and is added here with one line, configured from
 * `opts.part.config`; a disabled capability is simply left out of the list.
 */
export function createGatewayPlugins(opts: GatewayPluginOptions): GatewayPlugin[] {
  void opts;
  const plugins: GatewayPlugin[] = [];
  // Observability first (outermost): operation metrics and the operation span.
  plugins.push(useOperationMetrics());
  // Protection: CSRF for non-JSON requests, introspection switch, operation limits (graphql-armor).
  // (Unexpected errors are masked by yoga itself: see ../error-masking.ts and ../yoga.ts.)
  plugins.push(useCsrfPrevention());
  // First look at the parsed request: nothing recursive may see variables nested deeper than MAX_JSON_DEPTH.
  plugins.push(...useJsonDepthLimit(opts.part.config.maxJsonDepth));
  plugins.push(...useIntrospectionSwitch(opts.part.config.introspection));
  plugins.push(...useOperationLimits(opts.part.config));
  // Abuse limits: registration/login operations per IP, concurrent subscriptions (SSE; ws.ts counts its own).
  if (opts.rateLimits)
    plugins.push(
      ...[useAuthRateLimit({ limits: opts.rateLimits, fields: opts.part.config.rateLimitAuthFields, logger: opts.part.logger })].filter(
        (p) => p !== undefined,
      ),
    );
  if (opts.subscriptionSlots) plugins.push(useSubscriptionLimits(opts.subscriptionSlots));
  // Authorization: federation @authenticated / @requiresScopes, field by field.
  plugins.push(useAuthDirectives());
  // Persisted operations (APQ / allow-list): before the response cache, whose key needs the operation text.
  plugins.push(...[persistedOperationsFromConfig(opts.part.config)].filter((p) => p !== undefined));
  // Response cache of public reads (per caller), invalidated by catalog bus events on every gateway.
  plugins.push(...[responseCacheFromConfig(opts)?.plugin].filter((p) => p !== undefined));
  // x-switchyard-trace: 1 → extensions.subgraphTimings from the subgraphs' ftv1 traces (development).
  if (opts.part.config.subgraphTimings) plugins.push(useSubgraphTimings());
  return plugins;
}
