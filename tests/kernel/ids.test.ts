import { describe, expect, test } from "bun:test";
import { isId, newId } from "../../src/kernel/ids.ts";

describe("newId (KSUID)", () => {
  test("27 base62 characters, accepted by isId", () => {
    for (let i = 0; i < 1000; i++) {
      const id = newId();
      expect(id).toMatch(/^[0-9A-Za-z]{27}$/);
      expect(isId(id)).toBe(true);
    }
  });

  test("isId refuses what is not a KSUID string", () => {
    for (const bad of ["", "abc", `${newId()}x`, newId().slice(1), `${"0".repeat(26)}-`]) expect(isId(bad)).toBe(false);
  });

  test("unique over many ids", () => {
    const n = 50_000;
    const ids = new Set<string>();
    for (let i = 0; i < n; i++) ids.add(newId());
    expect(ids.size).toBe(n);
  });
});
