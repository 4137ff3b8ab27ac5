import { MONEY_SDL } from "../../../kernel/index.ts";

/**
 * The catalog subgraph's SDL (Apollo Federation v2). Entities: `Product` and `Category`,
 * both resolvable by `id` from other subgraphs. `Money` and `PageInfo` are value types other
 * subgraphs may declare identically, hence `@shareable`.
 */
export const CATALOG_SDL = /* GraphQL */ `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])

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
  "Number of products matching the filters (all pages)."
  totalCount: Int!
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
  relevance (name matches rank above description matches). Errors: BAD_USER_INPUT for
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
`;
