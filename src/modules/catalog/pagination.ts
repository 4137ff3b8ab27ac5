import { badInput } from "../../kernel/index.ts";
import type { ProductPosition } from "./storage/types.ts";

/** Page size when `first` is not given. */
export const DEFAULT_PAGE_SIZE = 20;
/** Largest accepted `first`. */
export const MAX_PAGE_SIZE = 100;

/**
 * Validates `first`: absent or null → {@link DEFAULT_PAGE_SIZE}; otherwise 0..{@link MAX_PAGE_SIZE}.
 * @throws AppError BAD_USER_INPUT outside that range.
 */
export function pageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE) {
    throw badInput(`first must be between 0 and ${MAX_PAGE_SIZE}`, { first });
  }
  return first;
}

/** Wire form of a position: `["n", name, id]` or `["r", score, id]`, JSON then base64url. */
type CursorTuple = ["n", string, string] | ["r", number, string];

/**
 * Encodes a position as an opaque cursor (base64url of a small JSON tuple). Clients must not
 * parse it; the format may change.
 */
export function encodeCursor(pos: ProductPosition): string {
  const tuple: CursorTuple = pos.order === "name" ? ["n", pos.key, pos.id] : ["r", pos.key, pos.id];
  return Buffer.from(JSON.stringify(tuple), "utf8").toString("base64url");
}

/**
 * Decodes a cursor made by {@link encodeCursor} for the given ordering (a name-ordered
 * cursor cannot continue a search, and vice versa).
 * @throws AppError BAD_USER_INPUT when the cursor is malformed or of the other ordering.
 */
export function decodeCursor(cursor: string, order: ProductPosition["order"]): ProductPosition {
  const invalid = () => badInput("invalid cursor", { after: cursor });
  // Node's base64url decoder skips foreign characters silently, so check the alphabet first.
  if (cursor.length === 0 || cursor.length > 2048 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(value) || value.length !== 3 || typeof value[2] !== "string") throw invalid();
  const [tag, key, id] = value as [unknown, unknown, string];
  if (order === "name" && tag === "n" && typeof key === "string") return { order, key, id };
  if (order === "rank" && tag === "r" && typeof key === "number" && Number.isFinite(key)) return { order, key, id };
  throw invalid();
}
