import { forbidden, newId, notFound, REQUEST_ID_HEADER, unauthenticated, type Headers, type Identity } from "../../kernel/index.ts";
import type { CatalogStore, CategoryRecord, ProductRecord } from "./storage/types.ts";
import {
  validateCategoryName,
  validateCreateProduct,
  validateStock,
  validateUpdateProduct,
  type CreateProductInput,
  type UpdateProductInput,
} from "./validation.ts";

/** Role that the catalog's admin mutations require (also declared with `@requiresScopes` in the SDL). */
export const ADMIN_ROLE = "admin";

/**
 * Checks that the caller is an admin. The gateway enforces `@requiresScopes` already; this is
 * the module's own check, because a module never trusts that a gateway ran (anything on the
 * bus can send a subgraph request).
 * @throws AppError UNAUTHENTICATED without an identity, FORBIDDEN without the admin role.
 */
export function requireAdmin(identity: Identity | null): Identity {
  if (!identity) throw unauthenticated();
  if (!identity.roles.includes(ADMIN_ROLE)) throw forbidden(`the ${ADMIN_ROLE} role is required`);
  return identity;
}

/**
 * The catalog's admin operations: validate, then write. Every product change publishes
 * `catalog.product_changed` (kind `created`, `updated` or `stock`), and `setStock` also
 * `catalog.stock_changed`, as reservations do: the store writes them to its outbox in the
 * change's transaction and waits for the relay's publish (so a consumer such as a gateway cache
 * sees the event before the mutation's response leaves). A failed publish is retried by the
 * relay, never by the caller: the change is committed.
 */
export class CatalogAdmin {
  constructor(private readonly store: CatalogStore) {}

  /**
   * Creates a category.
   * @throws AppError BAD_USER_INPUT (name), CONFLICT (name taken).
   */
  async createCategory(rawName: string): Promise<CategoryRecord> {
    const name = validateCategoryName(rawName);
    return this.store.createCategory({ id: newId(), name });
  }

  /**
   * Creates a product, searchable at once.
   * @throws AppError BAD_USER_INPUT (see validateCreateProduct), NOT_FOUND (category).
   */
  async createProduct(input: CreateProductInput, headers: Headers): Promise<ProductRecord> {
    const v = validateCreateProduct(input);
    return this.store.createProduct({ id: newId(), ...v, createdAt: new Date().toISOString() }, eventOptions(headers));
  }

  /**
   * Changes name, description and/or price.
   * @throws AppError BAD_USER_INPUT, NOT_FOUND (product).
   */
  async updateProduct(id: string, input: UpdateProductInput, headers: Headers): Promise<ProductRecord> {
    const changes = validateUpdateProduct(input);
    const product = await this.store.updateProduct(id, changes, eventOptions(headers));
    if (!product) throw notFound("product", id);
    return product;
  }

  /**
   * Sets the stock level (units).
   * @throws AppError BAD_USER_INPUT (stock outside 0..1e9), NOT_FOUND (product).
   */
  async setStock(productId: string, stock: number, headers: Headers): Promise<ProductRecord> {
    const product = await this.store.setStock(productId, validateStock(stock), eventOptions(headers));
    if (!product) throw notFound("product", productId);
    return product;
  }
}

/** Only the request id travels on events: identity headers are for subgraph requests. */
function eventOptions(requestHeaders: Headers): { headers: Headers } {
  const requestId = requestHeaders[REQUEST_ID_HEADER];
  return { headers: requestId ? { [REQUEST_ID_HEADER]: requestId } : {} };
}
