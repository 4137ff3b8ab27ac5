/**
 * The account subgraph's SDL (Apollo Federation v2). Entity: `Account`, resolvable by `id`
 * from other subgraphs (the order module contributes `Account.orders`).
 */
export const ACCOUNT_SDL = /* GraphQL */ `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@shareable", "@authenticated"])

"""An instant as an ISO-8601 string in UTC, e.g. \`"2024-05-01T12:00:00.000Z"\`."""
scalar DateTime

"""A customer account."""
type Account @key(fields: "id") {
  "Account id (KSUID)."
  id: ID!
  "Display name, 1 to 100 characters."
  name: String!
  """
  E-mail address, normalised (trimmed, lower case); unique across accounts. Private: only the
  account itself (or the caller who just registered or logged in to it) and admins read it;
  for anyone else it is null with a FORBIDDEN error (the rest of the response is intact).
  """
  email: String
  "Roles granted to the account, e.g. [\\"customer\\"] or [\\"customer\\", \\"admin\\"]; copied into issued tokens. Private like \`email\`."
  roles: [String!]
  createdAt: DateTime!
}

"""What \`register\` and \`login\` return: a bearer token and the account it identifies."""
type AuthPayload {
  "JWT (HS256) to send as \`Authorization: Bearer <token>\`; expires after JWT_TTL_S seconds."
  token: String!
  account: Account!
}

"""A new account's details."""
input RegisterInput {
  "1 to 100 characters after trimming."
  name: String!
  "A valid e-mail address; compared case-insensitively."
  email: String!
  "At least 8 characters (at most 1024)."
  password: String!
}

type Query {
  "The caller's account. Errors: UNAUTHENTICATED without a token. Null if the account no longer exists."
  me: Account @authenticated
  "An account by id; null when it does not exist."
  account(id: ID!): Account
}

type Mutation {
  """
  Creates an account and returns a token for it. Errors: BAD_USER_INPUT (malformed e-mail,
  name not 1-100 characters, password shorter than 8 characters), EMAIL_TAKEN.
  """
  register(input: RegisterInput!): AuthPayload!
  "Exchanges credentials for a token. Errors: INVALID_CREDENTIALS (unknown e-mail or wrong password, indistinguishably)."
  login(email: String!, password: String!): AuthPayload!
}
`;
