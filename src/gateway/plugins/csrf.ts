/**
 * CSRF prevention (yoga's `@graphql-yoga/plugin-csrf-prevention`,
 * https://the-guild.dev/graphql/yoga-server/docs/features/csrf-prevention): a browser sends a
 * "simple" cross-site request (GET, or a POST with `text/plain`, form or multipart content) without
 * a CORS preflight, so another site could make a logged-in browser run an operation. Such requests
 * must carry one of {@link CSRF_HEADERS}, which a page can only set after a successful preflight.
 * `POST` with `content-type: application/json` (what every GraphQL client sends) is never affected;
 * GraphiQL's HTML page is served before this check.
 *
 * Refused requests get HTTP 403 with `extensions.code: "CSRF_PREVENTED"` (the plugin's own error
 * has no code).
 */
import { useCSRFPrevention } from "@graphql-yoga/plugin-csrf-prevention";
import { createGraphQLError } from "graphql-yoga";
import type { GatewayPlugin } from "./types.ts";

/**
 * Headers that mark a request as preflighted: yoga's own, Apollo's two (so Apollo clients and
 * Apollo Router conventions work unchanged), and the GraphQL-over-HTTP draft's `GraphQL-Preflight`.
 */
export const CSRF_HEADERS = ["x-graphql-yoga-csrf", "apollo-require-preflight", "x-apollo-operation-name", "graphql-preflight"] as const;

/** Error code of a refused non-preflighted request. */
export const CSRF_PREVENTED = "CSRF_PREVENTED";

/** The CSRF check; see the file comment. Throws (→ HTTP 403) `CSRF_PREVENTED`. */
export function useCsrfPrevention(): GatewayPlugin {
  const inner = useCSRFPrevention({ requestHeaders: [...CSRF_HEADERS] });
  return {
    onRequestParse(payload) {
      try {
        return inner.onRequestParse?.(payload);
      } catch {
        throw createGraphQLError(
          `operation refused as a possible cross-site request forgery: a GET or non-JSON request needs one of the headers ${CSRF_HEADERS.join(", ")}`,
          {
            extensions: { code: CSRF_PREVENTED, http: { status: 403 } },
          },
        );
      }
    },
  };
}
