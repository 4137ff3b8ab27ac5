import { describe, expect, test } from "bun:test";
import { rowHash } from "../../src/kernel/storage/copy/checksum.ts";
import type { TablePlan } from "../../src/kernel/storage/copy/plan.ts";
import { canonical, comparedType, postgresLogicalType, sqliteLogicalType, toTarget } from "../../src/kernel/storage/copy/values.ts";

/** The data move's value rules: what both dialects must agree on for the checksum to compare data, not representations. */
describe("copy values", () => {
  test("compared type: the more specific side wins (TEXT vs timestamptz, TEXT vs jsonb / text[])", () => {
    expect(comparedType(sqliteLogicalType("TEXT"), postgresLogicalType("timestamp with time zone"))).toBe("timestamp");
    expect(comparedType(sqliteLogicalType("TEXT"), postgresLogicalType("jsonb"))).toBe("json");
    expect(comparedType(postgresLogicalType("ARRAY"), sqliteLogicalType("TEXT"))).toBe("json");
    expect(comparedType(sqliteLogicalType("INTEGER"), postgresLogicalType("bigint"))).toBe("integer");
    expect(comparedType(sqliteLogicalType("TEXT"), postgresLogicalType("text"))).toBe("text");
  });

  test("canonical text: NULL distinct from empty, JSON key order and spacing ignored, timestamps in ms, integers decimal", () => {
    expect(canonical(null, "text")).toBeNull();
    expect(canonical("", "text")).toBe("");
    expect(canonical('{"b":1,"a":[1,{"y":2,"x":1}]}', "json")).toBe(canonical('{"a": [1, {"x": 1, "y": 2}], "b": 1}', "json"));
    expect(canonical('["customer","admin"]', "json")).toBe(canonical(["customer", "admin"], "json"));
    expect(canonical('["admin","customer"]', "json")).not.toBe(canonical(["customer", "admin"], "json"));
    expect(canonical("2026-01-02T03:04:05.678Z", "timestamp")).toBe(canonical("2026-01-02T03:04:05.678+00:00", "timestamp"));
    expect(canonical("2026-01-02T03:04:05.678Z", "timestamp")).not.toBe(canonical("2026-01-02T03:04:05.679Z", "timestamp"));
    expect(canonical(12_345, "integer")).toBe("12345");
    expect(canonical(1, "boolean")).toBe(canonical(true, "boolean"));
    expect(canonical(0, "boolean")).toBe("f");
  });

  test("values for the target: JSON text ↔ PostgreSQL arrays, booleans ↔ SQLite 0/1, NULL kept", () => {
    expect(toTarget('["customer"]', "array", "postgres")).toEqual(["customer"]);
    expect(toTarget(["customer"], "text", "sqlite")).toBe('["customer"]');
    expect(toTarget(1, "boolean", "postgres")).toBe(true);
    expect(toTarget(true, "integer", "sqlite")).toBe(1);
    expect(toTarget(null, "json", "postgres")).toBeNull();
    expect(toTarget("2026-01-02T03:04:05.678Z", "timestamp", "postgres")).toBe("2026-01-02T03:04:05.678Z");
  });

  test("row hash: by column name, over the planned columns only; a table's sum is order-independent", () => {
    const plan: TablePlan = {
      name: "t",
      columns: [
        { name: "b", sourceType: "text", targetType: "text", compared: "text", fractionDigits: 3, identity: false },
        { name: "a", sourceType: "integer", targetType: "integer", compared: "integer", fractionDigits: 3, identity: false },
      ],
      sourceKey: [{ name: "a", type: "integer" }],
      targetKey: [{ name: "a", type: "integer" }],
    };
    expect(rowHash({ a: 1, b: "x", seq: 7 }, plan)).toBe(rowHash({ b: "x", a: 1 }, plan));
    expect(rowHash({ a: 1, b: "" }, plan)).not.toBe(rowHash({ a: 1, b: null }, plan));
    expect(rowHash({ a: 1, b: "x" }, plan)).not.toBe(rowHash({ a: 2, b: "x" }, plan));
  });
});
