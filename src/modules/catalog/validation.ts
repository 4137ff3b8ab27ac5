import { badInput, multiLineText, singleLineText } from "../../kernel/index.ts";
import type { ReleaseStockRequest, ReserveStockRequest } from "./contract/index.ts";

/** Most lines one reservation may have. */
export const MAX_RESERVE_ITEMS = 100;
/** Longest accepted reservation or product id, in characters. */
const MAX_ID_LENGTH = 128;

const isId = (v: string): boolean => v.length > 0 && v.length <= MAX_ID_LENGTH;

/**
 * Checks the rules of a reservation request whose shape the kernel already checked against
 * the contract: a non-empty reservation id, 1..{@link MAX_RESERVE_ITEMS} items, each a
 * non-empty product id with a quantity >= 1, no product twice, `maxTotalCents` >= 0.
 * @returns `req` (the kernel's parsed copy: unknown fields already dropped).
 * @throws AppError BAD_USER_INPUT naming the first problem.
 */
export function parseReserveRequest(req: ReserveStockRequest): ReserveStockRequest {
  if (!isId(req.reservationId)) throw badInput("reservationId must be a non-empty string");
  const { items } = req;
  if (items.length === 0) throw badInput("items must be a non-empty list");
  if (items.length > MAX_RESERVE_ITEMS) throw badInput(`at most ${MAX_RESERVE_ITEMS} items per reservation`, { count: items.length });
  const seen = new Set<string>();
  items.forEach(({ productId, quantity }, index) => {
    if (!isId(productId)) throw badInput("each item needs a productId", { index });
    if (quantity < 1) throw badInput("quantity must be an integer of at least 1", { productId, quantity });
    // Duplicates would make the per-item stock check and the stored lines ambiguous.
    if (seen.has(productId)) throw badInput("each product may appear once; merge the quantities", { productId });
    seen.add(productId);
  });
  if (req.maxTotalCents !== undefined && req.maxTotalCents < 0) throw badInput("maxTotalCents must be an integer >= 0");
  return req;
}

/**
 * Checks the rules of a release request (shape checked by the kernel).
 * @throws AppError BAD_USER_INPUT when the reservation id is empty or too long.
 */
export function parseReleaseRequest(req: ReleaseStockRequest): ReleaseStockRequest {
  if (!isId(req.reservationId)) throw badInput("reservationId must be a non-empty string");
  return req;
}

/** Limits of the admin mutations' input; lengths in Unicode code points after NFC and trimming. */
export const ADMIN_LIMITS = {
  productNameMax: 200,
  descriptionMax: 2000,
  categoryNameMax: 100,
  /**
   * Cents: at most 1,000,000.00 in the product's currency. Below 2^31, so a price always fits
   * `Money.cents` (GraphQL Int); order totals have their own bound (`ORDER_MAX_TOTAL_CENTS`).
   */
  priceCentsMax: 100_000_000,
  stockMax: 1_000_000_000,
} as const;

/** Currency when `CreateProductInput.currency` is omitted or null. */
export const DEFAULT_CURRENCY = "USD";

/** `createProduct`'s input as received from GraphQL (types already checked against the SDL). */
export interface CreateProductInput {
  name: string;
  description: string;
  priceCents: number;
  currency?: string | null;
  categoryId: string;
  stock: number;
}

/** `updateProduct`'s input as received from GraphQL: null or absent = unchanged. */
export interface UpdateProductInput {
  name?: string | null;
  description?: string | null;
  priceCents?: number | null;
}

/** Kernel text policy (kernel/text.ts), one line. @throws AppError BAD_USER_INPUT `{ field }` */
const productName = (raw: string): string => singleLineText(raw, "name", { max: ADMIN_LIMITS.productNameMax });

/** Kernel text policy, line feeds and tabs allowed, may be empty. @throws AppError BAD_USER_INPUT `{ field }` */
const description = (raw: string): string => multiLineText(raw, "description", { min: 0, max: ADMIN_LIMITS.descriptionMax });

/** @throws AppError BAD_USER_INPUT `{ field }` */
function priceCents(v: number): number {
  if (!Number.isSafeInteger(v) || v < 0 || v > ADMIN_LIMITS.priceCentsMax) {
    throw badInput(`priceCents must be an integer from 0 to ${ADMIN_LIMITS.priceCentsMax}`, { field: "priceCents" });
  }
  return v;
}

/**
 * Checks a stock level: integer units from 0 to {@link ADMIN_LIMITS}.stockMax.
 * @throws AppError BAD_USER_INPUT `{ field: "stock" }`
 */
export function validateStock(v: number): number {
  if (!Number.isSafeInteger(v) || v < 0 || v > ADMIN_LIMITS.stockMax)
    throw badInput(`stock must be an integer from 0 to ${ADMIN_LIMITS.stockMax}`, { field: "stock" });
  return v;
}

/**
 * Normalises and validates `createProduct` input: name 1..200 and description 0..2000
 * characters (kernel text policy, kernel/text.ts: NFC, trimmed, no control characters; the
 * description may have line feeds and tabs), price 0..{@link ADMIN_LIMITS}.priceCentsMax cents, currency three
 * upper-case letters (default {@link DEFAULT_CURRENCY}), stock 0..stockMax units, a category id.
 * @throws AppError BAD_USER_INPUT `{ field }` naming the first invalid field.
 */
export function validateCreateProduct(
  input: CreateProductInput,
): Required<{ [K in keyof CreateProductInput]: NonNullable<CreateProductInput[K]> }> {
  const name = productName(input.name);
  const desc = description(input.description);
  const price = priceCents(input.priceCents);
  const currency = input.currency ?? DEFAULT_CURRENCY;
  if (!/^[A-Z]{3}$/.test(currency)) throw badInput("currency must be an ISO 4217 code (three upper-case letters)", { field: "currency" });
  if (!isId(input.categoryId)) throw badInput("categoryId must be a non-empty id", { field: "categoryId" });
  return { name, description: desc, priceCents: price, currency, categoryId: input.categoryId, stock: validateStock(input.stock) };
}

/**
 * Normalises and validates `updateProduct` input (same limits as {@link validateCreateProduct});
 * null fields are dropped.
 * @throws AppError BAD_USER_INPUT `{ field }`, or without a field when nothing would change.
 */
export function validateUpdateProduct(input: UpdateProductInput): { name?: string; description?: string; priceCents?: number } {
  const out: { name?: string; description?: string; priceCents?: number } = {};
  if (input.name != null) out.name = productName(input.name);
  if (input.description != null) out.description = description(input.description);
  if (input.priceCents != null) out.priceCents = priceCents(input.priceCents);
  if (Object.keys(out).length === 0) throw badInput("input must change at least one of name, description, priceCents");
  return out;
}

/**
 * Normalises and validates a category name (kernel text policy: NFC, trimmed, no control or
 * bidi-control characters): 1..{@link ADMIN_LIMITS}.categoryNameMax characters.
 * @throws AppError BAD_USER_INPUT `{ field: "name" }`
 */
export function validateCategoryName(raw: string): string {
  return singleLineText(raw, "name", { max: ADMIN_LIMITS.categoryNameMax });
}
