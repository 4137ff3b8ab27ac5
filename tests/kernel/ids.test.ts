import { describe, expect, test } from "bun:test";
import KSUID from "ksuid";
import { isId, newId, newIdAt } from "../../src/kernel/ids.ts";

describe("newId (KSUID)", () => {
  test("27 base62 characters, accepted by isId", () => {
    for (let i = 0; i < 1000; i++) {
      const id = newId();
      expect(id).toMatch(/^[0-9A-Za-z]{27}$/);
      expect(isId(id)).toBe(true);
    }
  });

  test("unique over many ids", () => {
    const n = 50_000;
    const ids = new Set<string>();
    for (let i = 0; i < n; i++) ids.add(newId());
    expect(ids.size).toBe(n);
  });

  test("a valid KSUID: the ksuid package parses it with the same second and 16 payload bytes", () => {
    const at = Date.UTC(2026, 11, 2, 10, 20, 30, 456);
    for (let i = 0; i < 200; i++) {
      const parsed = KSUID.parse(newIdAt(at));
      expect(parsed.date.getTime()).toBe(Date.UTC(2026, 11, 2, 10, 20, 30));
      expect(parsed.payload.length).toBe(16);
    }
  });

  test("string order follows the creation second", () => {
    const base = Date.UTC(2026, 0, 1);
    const ids = Array.from({ length: 500 }, (_, i) => newIdAt(base + i * 1000));
    expect([...ids].sort()).toEqual(ids);
    // Later second sorts after, whatever the random part.
    for (let i = 0; i < 200; i++) expect(newIdAt(base + 1000) > newIdAt(base)).toBe(true);
  });

  test("times outside the KSUID range are refused", () => {
    expect(() => newIdAt(14e11 - 1000)).toThrow(RangeError);
    expect(() => newIdAt(14e11 + 2 ** 32 * 1000)).toThrow(RangeError);
    expect(isId(newIdAt(14e11))).toBe(true);
  });
});
