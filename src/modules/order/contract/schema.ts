import { MONEY_SDL } from "../../../kernel/index.ts";

/**
 * The order subgraph's SDL (Apollo Federation v2). Entity: `Order` (resolvable by `id`, for
 * its owner only). It contributes `Account.orders` to the account module's `Account`, and
 * refers to the catalog's `Product` by id (a stub it cannot resolve itself).
 */
export const ORDER_SDL = /* GraphQL */ `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@shareable", "@authenticated", "@requiresScopes"])

${MONEY_SDL}

"""An instant as an ISO-8601 string in UTC, e.g. \`"2024-05-01T12:00:00.000Z"\`."""
scalar DateTime

"""Where an order is in its life."""
enum OrderStatus {
  "Created, stock reserved, not paid yet."
  PENDING
  PAID
  CANCELLED
  PAYMENT_FAILED
  SHIPPED
}

"""An order placed by an account. Readable by its owner only."""
type Order @key(fields: "id") {
  "Order id (KSUID); also the id of its stock reservation in the catalog."
  id: ID!
  "The account that placed the order."
  account: Account!
  "Order lines, in the order they were given."
  items: [OrderItem!]!
  "Sum of the line totals."
  total: Money!
  status: OrderStatus!
  createdAt: DateTime!
}

"""One line of an order; the unit price is the price when the order was placed."""
type OrderItem {
  product: Product!
  "Units, >= 1."
  quantity: Int!
  "Price of one unit when the order was placed."
  unitPrice: Money!
  "quantity × unitPrice."
  lineTotal: Money!
}

"""An account (owned by the account module); this subgraph adds its orders."""
type Account @key(fields: "id") {
  id: ID!
  """
  The account's orders, newest first. Only the account itself sees them: for any other
  caller (or anonymous) the list is empty, as if it had none.
  """
  orders: [Order!]!
}

"""A product (owned by the catalog module), referenced by id."""
type Product @key(fields: "id", resolvable: false) {
  id: ID!
}

"""A new order."""
input CreateOrderInput {
  "1 to ORDER_MAX_LINES (default 50) lines, each for a different product."
  items: [OrderItemInput!]!
}

"""How an order is paid."""
input PaymentInput {
  "Card token from the payment provider's client library (sandbox: tok_visa, tok_chargeDeclined, tok_processingError, tok_timeout)."
  token: String!
}

input OrderItemInput {
  productId: ID!
  "Units, 1 to ORDER_MAX_LINE_QUANTITY (default 10)."
  quantity: Int!
}

type Query {
  "An order by id. Errors: UNAUTHENTICATED without a token. Null when it does not exist or belongs to another account."
  order(id: ID!): Order @authenticated
}

type Mutation {
  """
  Places an order for the caller: reserves stock in the catalog (all lines or none) at current
  prices, then records the order as PENDING. Errors: UNAUTHENTICATED; BAD_USER_INPUT (no
  lines, quantity < 1, a product twice, mixed currencies); LIMIT_EXCEEDED (details
  { limitName, limit }: ORDER_MAX_LINES lines, ORDER_MAX_LINE_QUANTITY units of a product,
  ORDER_MAX_PENDING unpaid orders of the caller, ORDER_MAX_TOTAL_CENTS total); NOT_FOUND
  (unknown product, details { productId }); OUT_OF_STOCK (details { productId, requested,
  available }). A failed order writes nothing and leaves stock unchanged.
  """
  createOrder(input: CreateOrderInput!): Order! @authenticated
  """
  Pays one of the caller's PENDING orders with a card token (sandbox: tok_visa succeeds,
  tok_chargeDeclined is declined, tok_processingError fails at capture, tok_timeout never
  answers). Runs the checkout saga: authorize → capture → order PAID (the catalog commits its
  stock). On failure it compensates (void or refund, stock released) and the order becomes
  PAYMENT_FAILED. Idempotent: paying a PAID order returns it without a second charge, and a
  repeat after a failure returns the same error. Errors: UNAUTHENTICATED; NOT_FOUND (unknown
  id, or another account's order); BAD_USER_INPUT (empty token); INVALID_STATE (cancelled
  order); PAYMENT_DECLINED; PAYMENT_FAILED (provider timeout, capture failure, payment service
  unreachable: nothing stays charged); SERVICE_UNAVAILABLE (still settling; the order shows
  the outcome shortly). An order of 0.00 is completed without calling the provider (any
  token): PAID, with a CAPTURED payment of 0.00 whose chargeRequired is false.
  """
  payOrder(orderId: ID!, payment: PaymentInput!): Order! @authenticated
  """
  Cancels one of the caller's orders (admins: any order) while it is PENDING or
  PAYMENT_FAILED; its reserved stock goes back to the catalog. Publishes
  order.status_changed. Errors: UNAUTHENTICATED; NOT_FOUND (unknown id, or another account's
  order); INVALID_STATE (details { status, requested }: already paid, shipped or cancelled).
  """
  cancelOrder(id: ID!): Order! @authenticated
  """
  Admin only: moves an order along its lifecycle: PENDING → PAID | PAYMENT_FAILED | CANCELLED,
  PAYMENT_FAILED → CANCELLED, PAID → SHIPPED. PAID commits the order's stock, CANCELLED
  returns it. Publishes order.status_changed. Errors: UNAUTHENTICATED, FORBIDDEN, NOT_FOUND,
  INVALID_STATE (details { status, requested }).
  """
  setOrderStatus(id: ID!, status: OrderStatus!): Order! @requiresScopes(scopes: [["admin"]])
}

type Subscription {
  """
  The order, each time its status changes: the caller's orders (admins: every order), or only
  order orderId. Served over SSE and WebSocket at /graphql. Errors at subscribe time:
  UNAUTHENTICATED (no token); NOT_FOUND (orderId unknown or another account's order).
  """
  orderStatusChanged(orderId: ID): Order!
}
`;
