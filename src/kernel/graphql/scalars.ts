import { GraphQLError, GraphQLScalarType, Kind } from "graphql";

const parseIso = (value: unknown): string => {
  if (typeof value !== "string" || Number.isNaN(Date.parse(value))) {
    throw new GraphQLError("DateTime must be an ISO-8601 string", { extensions: { code: "BAD_USER_INPUT" } });
  }
  return new Date(value).toISOString();
};

/**
 * `DateTime`: an ISO-8601 string in UTC. Serialises strings (stored ISO) and `Date`s; parses
 * input strings to normalised ISO form.
 */
export const DateTimeScalar = new GraphQLScalarType<string, string>({
  name: "DateTime",
  description: "An instant as an ISO-8601 string in UTC.",
  serialize(value) {
    if (value instanceof Date) return value.toISOString();
    if (typeof value === "string") return value;
    throw new GraphQLError("DateTime cannot represent a non-date value");
  },
  parseValue: parseIso,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new GraphQLError("DateTime must be a string literal", { nodes: ast });
    return parseIso(ast.value);
  },
});
