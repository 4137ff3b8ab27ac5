import type { SqlDialect } from "../database.ts";
import { isoWithFraction } from "../postgres.ts";

/**
 * What a column holds, whatever the dialect declares: SQLite keeps timestamps and JSON as TEXT,
 * PostgreSQL as `timestamptz` and `jsonb`; `array` is PostgreSQL's `text[]` (account roles),
 * JSON text on SQLite.
 */
export type LogicalType = "integer" | "real" | "boolean" | "timestamp" | "json" | "array" | "blob" | "text";

/** The logical type of a SQLite declared type, by SQLite's affinity rules (https://www.sqlite.org/datatype3.html). */
export function sqliteLogicalType(declared: string): LogicalType {
  const t = declared.toUpperCase();
  if (t.includes("INT")) return "integer";
  if (t.includes("BOOL")) return "boolean";
  if (t.includes("CHAR") || t.includes("CLOB") || t.includes("TEXT")) return "text";
  if (t.includes("BLOB") || t === "") return "blob";
  if (t.includes("REAL") || t.includes("FLOA") || t.includes("DOUB")) return "real";
  return "text";
}

/** The logical type of a PostgreSQL column (`information_schema.columns.data_type`). */
export function postgresLogicalType(dataType: string): LogicalType {
  switch (dataType) {
    case "smallint":
    case "integer":
    case "bigint":
      return "integer";
    case "real":
    case "double precision":
      return "real";
    // numeric: exact decimal text (the driver reads it as text); a double would round it.
    case "numeric":
      return "text";
    case "boolean":
      return "boolean";
    case "timestamp with time zone":
    case "timestamp without time zone":
      return "timestamp";
    case "json":
    case "jsonb":
      return "json";
    case "ARRAY":
      return "array";
    case "bytea":
      return "blob";
    default:
      return "text";
  }
}

/** Most specific first: a column declared TEXT on SQLite and `timestamptz` on PostgreSQL is a timestamp. */
const SPECIFICITY: readonly LogicalType[] = ["json", "array", "timestamp", "boolean", "integer", "real", "blob", "text"];

/**
 * The type a column is compared by in the checksum: the more specific of its two sides' logical
 * types (an `array` compares as JSON: JSON text on SQLite, `text[]` on PostgreSQL).
 */
export function comparedType(a: LogicalType, b: LogicalType): LogicalType {
  const t = SPECIFICITY.indexOf(a) <= SPECIFICITY.indexOf(b) ? a : b;
  return t === "array" ? "json" : t;
}

/**
 * A value read from the source, as the target column takes it: JSON text ↔ PostgreSQL array,
 * JS booleans ↔ SQLite 0/1, PostgreSQL timestamps (ISO-8601 with µs) → ms on SQLite. ISO
 * timestamps otherwise, integers, text and JSON text pass unchanged; NULL stays NULL.
 * @throws SyntaxError when JSON text bound for an array column is not JSON.
 */
export function toTarget(value: unknown, target: LogicalType, dialect: SqlDialect, fractionDigits: 3 | 6 = 3): unknown {
  if (value === null || value === undefined) return null;
  // A PostgreSQL stamp (read with microseconds) into SQLite: ISO-8601 with ms, as the code writes them.
  if (dialect === "sqlite" && fractionDigits === 3 && typeof value === "string" && /^\d{4}-\d\d-\d\dT[\d:]{8}\.\d{6}Z$/.test(value))
    return isoWithFraction(value, 3);
  if (target === "array") return typeof value === "string" ? (JSON.parse(value) as unknown) : value;
  if (target === "boolean") {
    const b = value === true || value === 1 || value === "1" || value === "t" || value === "true";
    return dialect === "postgres" ? b : b ? 1 : 0;
  }
  if (value instanceof Uint8Array) return value;
  if (typeof value === "object") return JSON.stringify(value);
  if (typeof value === "boolean" && dialect === "sqlite") return value ? 1 : 0;
  return value;
}

/** JSON with object keys sorted at every level, so equal documents give equal text. */
export function stableJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableJson(obj[k])}`)
    .join(",")}}`;
}

/**
 * The canonical text of a value for the checksum, by the column's compared type, so both
 * dialects give the same text for the same data: integer → decimal, boolean → `t`/`f` (other
 * values as `raw:<value>`), timestamp → ISO-8601 UTC with `fractionDigits` digits (truncated), JSON → parsed and key-sorted, text as is. NULL is `null`
 * (distinct from the empty string `""`).
 */
export function canonical(value: unknown, type: LogicalType, fractionDigits: 3 | 6 = 3): string | null {
  if (value === null || value === undefined) return null;
  switch (type) {
    case "integer":
      return typeof value === "boolean" ? (value ? "1" : "0") : String(value);
    case "real":
      return String(Number(value));
    case "boolean":
      // Only the values a boolean can be on either side; anything else compares as itself, so
      // a stray SQLite value (2, "yes") cannot match the false it would be copied as.
      if (value === true || value === 1 || value === "1" || value === "t" || value === "true") return "t";
      if (value === false || value === 0 || value === "0" || value === "f" || value === "false") return "f";
      return `raw:${String(value)}`;
    case "timestamp":
      return isoWithFraction(value, fractionDigits) ?? String(value);
    case "json":
    case "array":
      if (typeof value !== "string") return stableJson(value);
      try {
        return stableJson(JSON.parse(value));
      } catch {
        return value;
      }
    case "blob":
      return value instanceof Uint8Array ? Buffer.from(value).toString("hex") : String(value);
    default:
      return typeof value === "object" ? stableJson(value) : String(value);
  }
}
