import { MONEY_SDL } from "../../../kernel/index.ts";

/**
 * The payment subgraph's SDL (Apollo Federation v2). Entity: `Payment`. It contributes
 * `Order.payment` to the order module's `Order` entity (by `@key(fields: "id")`), so the order
 * module never imports or calls the payment module to show a payment.
 */
export const PAYMENT_SDL = /* GraphQL */ `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])

${MONEY_SDL}

"""An instant as an ISO-8601 string in UTC, e.g. \`"2024-05-01T12:00:00.000Z"\`."""
scalar DateTime

"""Where a payment is in its life."""
enum PaymentStatus {
  "Authorization requested, no answer from the provider yet."
  PENDING
  "Amount held on the card, not captured yet."
  AUTHORIZED
  "Amount charged."
  CAPTURED
  "The provider refused the authorization."
  DECLINED
  "The provider failed (timeout, processing error); nothing is charged once voided."
  FAILED
  "Authorization released; nothing charged."
  VOIDED
  "Captured, then refunded in full."
  REFUNDED
}

"""A payment of an order. Readable by the order's owner only."""
type Payment @key(fields: "id") {
  "Payment id (KSUID)."
  id: ID!
  amount: Money!
  status: PaymentStatus!
  "The provider's reference of the authorization; null before the provider answered, and for a payment of 0.00."
  providerReference: String
  """
  False for a payment of 0.00 (a free order): it was recorded CAPTURED without calling the card
  provider, since there was nothing to charge. True otherwise.
  """
  chargeRequired: Boolean!
  "Why the payment was declined or failed (provider reason), else null."
  failureReason: String
  createdAt: DateTime!
  updatedAt: DateTime!
}

"""An order (owned by the order module); this subgraph adds its payment."""
type Order @key(fields: "id") {
  id: ID!
  "The order's payment (latest attempt); null before \`payOrder\` or for another account."
  payment: Payment
}

type Query {
  "A payment by id; null when it does not exist or belongs to another account (or without a token)."
  payment(id: ID!): Payment
}
`;
