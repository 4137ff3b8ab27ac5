/**
 * Introspection switch (`INTROSPECTION`, default off when `NODE_ENV=production`): with it off,
 * every validation adds graphql-js's `NoSchemaIntrospectionCustomRule` (over HTTP and WebSocket
 * alike: yoga's `@graphql-yoga/plugin-disable-introspection` marks requests in `onRequestParse`,
 * which WebSocket operations never pass, so it let introspection through over WebSocket), so any
 * `__schema` / `__type` selection fails validation
 * (HTTP 400, `extensions.code: "INTROSPECTION_DISABLED"`; `__typename` stays allowed: clients and
 * federation need it), and graphql-armor's block-field-suggestions hides the "Did you mean ...?"
 * hints of validation errors, which would otherwise leak field names one typo at a time.
 */
import { blockFieldSuggestionsPlugin } from "@escape.tech/graphql-armor-block-field-suggestions";
import { GraphQLError, NoSchemaIntrospectionCustomRule } from "graphql";
import type { GatewayPlugin } from "./types.ts";

/** Error code of an introspection query refused while introspection is off. */
export const INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED";

// The message graphql-js's NoSchemaIntrospectionCustomRule reports (graphql 16); a test pins it.
const RULE_MESSAGE = "GraphQL introspection has been disabled";

/** Gives the introspection rule's errors a stable code (the rule itself sets none). */
const useIntrospectionErrorCode = (): GatewayPlugin => ({
  onValidate() {
    return ({ valid, result, setResult }) => {
      if (valid || !result.some((e) => e.message.startsWith(RULE_MESSAGE))) return;
      setResult(
        result.map((e) =>
          e.message.startsWith(RULE_MESSAGE)
            ? new GraphQLError(e.message, {
                nodes: e.nodes ?? null,
                source: e.source ?? null,
                positions: e.positions ?? null,
                extensions: { ...e.extensions, code: INTROSPECTION_DISABLED },
              })
            : e,
        ),
      );
    };
  },
});

/** Plugins that turn introspection off (nothing when `enabled`). */
export function useIntrospectionSwitch(enabled: boolean): GatewayPlugin[] {
  if (enabled) return [];
  const disable: GatewayPlugin = { onValidate: ({ addValidationRule }) => addValidationRule(NoSchemaIntrospectionCustomRule) };
  return [disable, useIntrospectionErrorCode(), blockFieldSuggestionsPlugin()];
}
