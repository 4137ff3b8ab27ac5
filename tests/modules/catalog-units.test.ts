import { describe, expect, test } from "bun:test";
import { buildSubgraphSchema } from "@apollo/subgraph";
import type { GraphQLResolverMap } from "@apollo/subgraph/dist/schema-helper";
import { execute, parse } from "graphql";
import { AppError } from "../../src/kernel/errors.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import type { SubgraphContext } from "../../src/kernel/module.ts";
import { CATALOG_SDL, CatalogCommands } from "../../src/modules/catalog/contract/index.ts";
import { BatchLoader } from "../../src/modules/catalog/loader.ts";
import { decodeCursor, encodeCursor, pageSize } from "../../src/modules/catalog/pagination.ts";
import { CatalogAdmin } from "../../src/modules/catalog/admin.ts";
import { createResolvers } from "../../src/modules/catalog/resolvers.ts";
import { DateTimeScalar } from "../../src/kernel/graphql/scalars.ts";
import { searchTerms } from "../../src/modules/catalog/search.ts";
import { seedDemoCatalog } from "../../src/modules/catalog/seed.ts";
import { toFtsQuery } from "../../src/modules/catalog/storage/search-sqlite.ts";
import { openCatalogDatabase } from "../../src/modules/catalog/storage/store.ts";
import { parseReleaseRequest, parseReserveRequest } from "../../src/modules/catalog/validation.ts";

/** Pure pieces of the catalog: search parsing, cursors, validation, batching. */

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err.code;
    throw err;
  }
  return undefined;
};

describe("search input", () => {
  test("user input becomes plain word tokens", () => {
    expect(searchTerms(undefined)).toEqual([]);
    expect(searchTerms(null)).toEqual([]);
    expect(searchTerms("  ")).toEqual([]);
    expect(searchTerms("*")).toEqual([]);
    expect(searchTerms('"foo" OR')).toEqual(["foo", "OR"]);
    expect(searchTerms("name:espresso*")).toEqual(["name", "espresso"]);
    expect(searchTerms("stainless-steel NEAR(a b)")).toEqual(["stainless", "steel", "NEAR", "a", "b"]);
    expect(searchTerms("café 100W")).toEqual(["café", "100W"]);
    expect(codeOf(() => searchTerms("x".repeat(201)))).toBe("BAD_USER_INPUT");
  });

  test("tokens become quoted prefix queries; quotes are escaped even if one slipped through", () => {
    expect(toFtsQuery(["espres", "OR"])).toBe('"espres"* "OR"*');
    expect(toFtsQuery(['a"b'])).toBe('"a""b"*');
  });
});

describe("pagination", () => {
  test("first defaults to 20 and must be 0..100", () => {
    expect(pageSize(undefined)).toBe(20);
    expect(pageSize(null)).toBe(20);
    expect(pageSize(0)).toBe(0);
    expect(pageSize(100)).toBe(100);
    expect(codeOf(() => pageSize(101))).toBe("BAD_USER_INPUT");
    expect(codeOf(() => pageSize(-1))).toBe("BAD_USER_INPUT");
  });

  test("cursors round-trip, are base64url, and are tied to their ordering", () => {
    const byName = { order: "name", key: "Chef's Knife ✓", id: "abc" } as const;
    const byRank = { order: "rank", key: -4.880981180235941e-7, id: "def" } as const;
    expect(encodeCursor(byName)).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(encodeCursor(byName), "name")).toEqual(byName);
    expect(decodeCursor(encodeCursor(byRank), "rank")).toEqual(byRank);
    expect(codeOf(() => decodeCursor(encodeCursor(byName), "rank"))).toBe("BAD_USER_INPUT");
    expect(codeOf(() => decodeCursor(encodeCursor(byRank), "name"))).toBe("BAD_USER_INPUT");
    for (const bad of [
      "",
      "%%%",
      "a b",
      "bm90IGpzb24",
      Buffer.from("[1,2]").toString("base64url"),
      Buffer.from('["r",null,"x"]').toString("base64url"),
      "x".repeat(3000),
    ]) {
      expect(codeOf(() => decodeCursor(bad, "name"))).toBe("BAD_USER_INPUT");
    }
  });
});

describe("reserve validation", () => {
  test("accepts a clean request; the contract's schema drops unknown fields", () => {
    const body = { reservationId: "r", items: [{ productId: "p", quantity: 2, extra: 1 }], more: true };
    const parsed = CatalogCommands.reserveStock.request.parse(body);
    expect(parseReserveRequest(parsed)).toEqual({ reservationId: "r", items: [{ productId: "p", quantity: 2 }] });
    expect(parseReleaseRequest(CatalogCommands.releaseStock.request.parse({ reservationId: "r" }))).toEqual({ reservationId: "r" });
  });

  test("names the duplicate product", () => {
    try {
      parseReserveRequest({
        reservationId: "r",
        items: [
          { productId: "p", quantity: 1 },
          { productId: "p", quantity: 1 },
        ],
      });
      throw new Error("accepted a duplicate");
    } catch (err) {
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).details).toEqual({ productId: "p" });
    }
    // The shape is the contract's (BAD_REQUEST at the bus boundary); the rules are the catalog's.
    expect(CatalogCommands.releaseStock.request.safeParse(null).success).toBe(false);
    expect(CatalogCommands.releaseStock.request.safeParse({ reservationId: 7 }).success).toBe(false);
    expect(codeOf(() => parseReleaseRequest({ reservationId: "" }))).toBe("BAD_USER_INPUT");
  });
});

describe("BatchLoader", () => {
  test("loads in one tick become one fetch; repeats are cached; missing ids are null", async () => {
    const calls: string[][] = [];
    const loader = new BatchLoader(async (ids: string[]) => {
      calls.push(ids);
      return ids.filter((id) => id !== "missing").map((id) => ({ id, v: id.toUpperCase() }));
    });
    const [a, b, a2, m] = await Promise.all([loader.load("a"), loader.load("b"), loader.load("a"), loader.load("missing")]);
    expect(calls).toEqual([["a", "b", "missing"]]);
    expect(a).toEqual({ id: "a", v: "A" });
    expect(a2).toBe(a as { id: string; v: string });
    expect(b?.v).toBe("B");
    expect(m).toBeNull();
    await loader.load("c");
    await loader.load("a");
    expect(calls).toEqual([["a", "b", "missing"], ["c"]]);
  });

  test("a failed fetch rejects its batch and is not cached", async () => {
    let fail = true;
    const loader = new BatchLoader(async (ids: string[]) => {
      if (fail) throw new Error("db down");
      return ids.map((id) => ({ id }));
    });
    await expect(loader.load("x")).rejects.toThrow("db down");
    fail = false;
    expect(await loader.load("x")).toEqual({ id: "x" });
  });

  test("_entities with many product references costs one store query", async () => {
    const store = await openCatalogDatabase({ kind: "sqlite", path: ":memory:" });
    await seedDemoCatalog(store);
    let batches = 0;
    const byIds = store.productsByIds.bind(store);
    store.productsByIds = async (ids) => {
      batches++;
      return byIds(ids);
    };
    const ids = (await store.db.selectFrom("products").select("id").orderBy("name").execute()).map((r) => r.id);
    const logger = createLogger({ level: "silent", pretty: false });
    const admin = new CatalogAdmin(store); // no admin mutation runs here
    const schema = buildSubgraphSchema({
      typeDefs: parse(CATALOG_SDL),
      resolvers: createResolvers(store, admin) as GraphQLResolverMap<unknown>,
    });
    const contextValue: SubgraphContext = { identity: null, requestId: "t", logger, headers: {} };
    const result = await execute({
      schema,
      document: parse(`query($r: [_Any!]!) { _entities(representations: $r) { ... on Product { id category { name } } } }`),
      variableValues: { r: ids.map((id) => ({ __typename: "Product", id })) },
      contextValue,
    });
    expect(result.errors).toBeUndefined();
    expect((result.data?.["_entities"] as { id: string }[]).map((e) => e.id)).toEqual(ids);
    expect(batches).toBe(1);
    await store.close();
  });
});

describe("DateTime scalar", () => {
  test("serialises ISO strings and dates; parses input to normalised ISO", () => {
    expect(DateTimeScalar.serialize("2024-05-01T12:00:00.000Z")).toBe("2024-05-01T12:00:00.000Z");
    expect(DateTimeScalar.serialize(new Date(0))).toBe("1970-01-01T00:00:00.000Z");
    expect(DateTimeScalar.parseValue("2024-05-01T14:00:00+02:00")).toBe("2024-05-01T12:00:00.000Z");
    expect(() => DateTimeScalar.parseValue("yesterday")).toThrow();
    expect(() => DateTimeScalar.serialize(42)).toThrow();
  });
});
