import { MONEY_SDL } from "../../../kernel/index.ts";

/**
 * The catalog subgraph's SDL (Apollo Federation v2). Entities: `Product` and `Category`,
 * both resolvable by `id` from other subgraphs. `Money` and `PageInfo` are value types other
 * subgraphs may declare identically, hence `@shareable`.
 */
export const CATALOG_SDL = /* GraphQL */ `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@shareable", "@authenticated", "@requiresScopes"])

${MONEY_SDL}

"""An instant as an ISO-8601 string in UTC, e.g. \`"2024-05-01T12:00:00.000Z"\`."""
scalar DateTime

"""Something the shop sells."""
type Product @key(fields: "id") {
  "Product id (KSUID)."
  id: ID!
  name: String!
  "One to three sentences; searched together with the name."
  description: String!
  "Current unit price."
  price: Money!
  "Units available to order now (never negative)."
  stock: Int!
  "True when at least one unit is available."
  inStock: Boolean!
  category: Category!
  createdAt: DateTime!
}

"""A group of products, e.g. "Coffee & Tea"."""
type Category @key(fields: "id") {
  "Category id (KSUID)."
  id: ID!
  name: String!
  "Products of this category by name; paginated like \`Query.products\`."
  products(
    "Page size: default 20, at most 100."
    first: Int
    "Cursor of the last edge of the previous page (\`pageInfo.endCursor\`)."
    after: String
  ): ProductConnection!
}

"""A page of products (Relay connection)."""
type ProductConnection {
  edges: [ProductEdge!]!
  pageInfo: PageInfo!
  """
  Number of products matching the filters (all pages). Exact for listings without \`search\`
  and for searches matching at most 1,000 products; a search matching more returns 1,000, a
  lower bound, with \`totalCountIsExact\` false (only the first 1,001 matches are counted).
  """
  totalCount: Int!
  "False when \`totalCount\` is a lower bound (a search matching more than 1,000 products), else true."
  totalCountIsExact: Boolean!
}

type ProductEdge {
  node: Product!
  "Opaque cursor of this edge; pass it as \`after\` to continue after it."
  cursor: String!
}

"""Relay page information."""
type PageInfo @shareable {
  hasNextPage: Boolean!
  "Cursor of the last edge of this page; null when the page is empty."
  endCursor: String
}

type Query {
  "A product by id; null when it does not exist."
  product(id: ID!): Product
  """
  Products, optionally filtered. Without \`search\` they are ordered by name; with it, by
  relevance (name matches rank above description matches). A search matching more than 1,000
  products (\`totalCountIsExact\` false) ranks 1,000 of its matches, the first in the index, so
  its pages end after 1,000 results. Errors: BAD_USER_INPUT for
  \`first\` outside 0..100, a malformed cursor, or a search longer than 200 characters.
  """
  products(
    "Full-text search over name and description; each word matches as a prefix (\\"espres\\" finds espresso). All words must match."
    search: String
    "Only products of this category."
    categoryId: ID
    "Page size: default 20, at most 100."
    first: Int
    "Cursor of the last edge of the previous page (\`pageInfo.endCursor\`)."
    after: String
  ): ProductConnection!
  "Every category, by name."
  categories: [Category!]!
  "A category by id; null when it does not exist."
  category(id: ID!): Category
}

"""A new product (\`createProduct\`)."""
input CreateProductInput {
  "1 to 200 characters after trimming."
  name: String!
  "Up to 2000 characters after trimming (may be empty)."
  description: String!
  "Unit price in integer minor units (cents), 0 to 100000000."
  priceCents: Int!
  "ISO 4217 code, three upper-case letters; default USD."
  currency: String = "USD"
  "Category of the product (see \`createCategory\`)."
  categoryId: ID!
  "Units available, 0 to 1000000000."
  stock: Int!
}

"""Changes to a product (\`updateProduct\`); omitted or null fields keep their value."""
input UpdateProductInput {
  "1 to 200 characters after trimming."
  name: String
  "Up to 2000 characters after trimming."
  description: String
  "Unit price in integer minor units (cents), 0 to 100000000."
  priceCents: Int
}

# Catalog administration: every field needs the admin role (enforced by the gateway from
# @requiresScopes, and again by the resolvers): UNAUTHENTICATED without a token, FORBIDDEN
# without the role. Each change publishes catalog.product_changed (setStock also
# catalog.stock_changed); search finds a created or renamed product at once.
type Mutation {
  "Admin only: creates a product. Errors: UNAUTHENTICATED, FORBIDDEN, BAD_USER_INPUT (see the input's limits), NOT_FOUND (categoryId)."
  createProduct(input: CreateProductInput!): Product! @requiresScopes(scopes: [["admin"]])
  "Admin only: changes a product's name, description or price. Errors: UNAUTHENTICATED, FORBIDDEN, BAD_USER_INPUT, NOT_FOUND (id)."
  updateProduct(id: ID!, input: UpdateProductInput!): Product! @requiresScopes(scopes: [["admin"]])
  "Admin only: sets a product's stock (units, 0 to 1000000000). Errors: UNAUTHENTICATED, FORBIDDEN, BAD_USER_INPUT, NOT_FOUND (productId)."
  setStock(productId: ID!, stock: Int!): Product! @requiresScopes(scopes: [["admin"]])
  "Admin only: creates a category. Errors: UNAUTHENTICATED, FORBIDDEN, BAD_USER_INPUT (name not 1 to 100 characters), CONFLICT (name taken)."
  createCategory(name: String!): Category! @requiresScopes(scopes: [["admin"]])
}

type Subscription {
  """
  The product each time its stock level changes (orders reserving or returning stock, admin
  setStock), with the new level in stock. Public. Served over SSE and WebSocket at /graphql.
  Errors at subscribe time: NOT_FOUND (unknown productId).
  """
  productStockChanged(productId: ID!): Product!
}
`;
