/**
 * The account subgraph's SDL (Apollo Federation v2). Entity: `Account`, resolvable by `id`
 * from other subgraphs (the order module contributes `Account.orders`).
 */
export const ACCOUNT_SDL = /* GraphQL */ `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@shareable", "@authenticated", "@requiresScopes"])

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
  "When an admin disabled the account (null while it is enabled). Private like \`email\`."
  disabledAt: DateTime
}

"""
What \`register\`, \`login\` and \`refreshToken\` return: a short-lived access token, a refresh
token to get the next one, and the account they identify.
"""
type AuthPayload {
  "Access token: a JWT (HS256) to send as \`Authorization: Bearer <token>\`; expires at \`expiresAt\` (JWT_TTL_S seconds)."
  token: String!
  "When \`token\` expires."
  expiresAt: DateTime!
  """
  Opaque refresh token (single use): pass it to \`refreshToken\` for a new pair before
  \`refreshTokenExpiresAt\` (REFRESH_TOKEN_TTL_S). Keep it secret; presenting a used one again
  revokes the whole session (TOKEN_REUSED).
  """
  refreshToken: String!
  "When \`refreshToken\` expires."
  refreshTokenExpiresAt: DateTime!
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
  """
  Exchanges credentials for a token pair (a new session). Errors: INVALID_CREDENTIALS (unknown
  e-mail or wrong password, indistinguishably), ACCOUNT_DISABLED (right password, disabled account).
  """
  login(email: String!, password: String!): AuthPayload!
  """
  Rotates a refresh token: returns a new access token and a new refresh token of the same
  session, and marks the one given as used. Errors: UNAUTHENTICATED (unknown, expired or
  revoked refresh token), TOKEN_REUSED (the refresh token was already used: the whole session
  is revoked, log in again), ACCOUNT_DISABLED.
  """
  refreshToken(refreshToken: String!): AuthPayload!
  """
  Ends the caller's session: its refresh tokens stop working and gateways refuse its access
  tokens (see README, Security). With \`refreshToken\`, that token's session (of the same
  account) is revoked too. True when something was revoked. Errors: UNAUTHENTICATED.
  """
  logout(refreshToken: String): Boolean! @authenticated
  """
  Disables an account: login and refresh are refused (ACCOUNT_DISABLED), every session is
  revoked, and every gateway refuses its access tokens (event \`account.disabled\`). Idempotent.
  Errors: FORBIDDEN (not admin), NOT_FOUND, BAD_USER_INPUT (disabling one's own account).
  """
  disableAccount(id: ID!): Account! @requiresScopes(scopes: [["admin"]])
  "Enables a disabled account again (its revoked sessions stay revoked: log in again). Idempotent. Errors: FORBIDDEN, NOT_FOUND."
  enableAccount(id: ID!): Account! @requiresScopes(scopes: [["admin"]])
}
`;
