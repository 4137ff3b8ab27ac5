/**
 * The deduplicating executor (src/gateway/dedup.ts) on its own, around an executor that counts
 * its calls and answers when told: what is in the key, that waiters get copies (the runtimes
 * merge later fetches into fetched objects), and that a throw reaches every waiter. End to end
 * over the memory bus, NATS and HTTP: subgraph-dedup.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { GraphQLError, OperationTypeNode, parse, type ExecutionResult } from "graphql";
import type { ExecutionRequest, Executor } from "@graphql-tools/utils";
import { dedupKey, stableJson, withDeduplication } from "../../src/gateway/dedup.ts";

const DOC = parse("query Q($id: ID) { product(id: $id) { id name } }");
const req = (over: Partial<ExecutionRequest> = {}): ExecutionRequest => ({
  document: DOC,
  operationType: OperationTypeNode.QUERY,
  operationName: "Q",
  variables: { id: "1" },
  context: { requestId: "r1", identity: { accountId: "a", roles: ["customer"], sessionId: "s" } },
  ...over,
});

/** An executor whose calls wait until `answer` settles them. */
function held() {
  let calls = 0;
  const pending: { resolve(r: ExecutionResult): void; reject(e: unknown): void }[] = [];
  const executor = ((_r: ExecutionRequest) => {
    calls++;
    return new Promise<ExecutionResult>((resolve, reject) => pending.push({ resolve, reject }));
  }) as Executor;
  return {
    executor,
    calls: () => calls,
    answer: (r: ExecutionResult) => {
      for (const p of pending.splice(0)) p.resolve(r);
    },
    fail: (e: unknown) => {
      for (const p of pending.splice(0)) p.reject(e);
    },
  };
}

describe("dedupKey", () => {
  test("the same for equal variables in another key order, and for another request id or trace", () => {
    const a = dedupKey(req({ variables: { id: "1", filter: { a: 1, b: [{ x: 1, y: 2 }] } } }), "catalog");
    const b = dedupKey(
      req({
        variables: { filter: { b: [{ y: 2, x: 1 }], a: 1 }, id: "1" },
        context: { requestId: "r2", identity: { roles: ["customer"], accountId: "a", sessionId: "s" } },
      }),
      "catalog",
    );
    expect(a).toBeString();
    expect(b).toBe(a as string);
  });

  test("differs by subgraph, variables, operation name, extensions and every field of the identity", () => {
    const base = dedupKey(req(), "catalog");
    const others = [
      dedupKey(req(), "order"),
      dedupKey(req({ variables: { id: "2" } }), "catalog"),
      dedupKey(req({ operationName: "R" }), "catalog"),
      dedupKey(req({ extensions: { persistedQuery: { sha256Hash: "x" } } }), "catalog"),
      dedupKey(req({ context: { requestId: "r1", identity: null } }), "catalog"),
      dedupKey(req({ context: { requestId: "r1", identity: { accountId: "b", roles: ["customer"], sessionId: "s" } } }), "catalog"),
      dedupKey(req({ context: { requestId: "r1", identity: { accountId: "a", roles: ["admin"], sessionId: "s" } } }), "catalog"),
      dedupKey(req({ context: { requestId: "r1", identity: { accountId: "a", roles: ["customer"], sessionId: "t" } } }), "catalog"),
      dedupKey(req({ document: parse("query Q($id: ID) { product(id: $id) { id } }") }), "catalog"),
    ];
    expect(new Set([base, ...others]).size).toBe(others.length + 1);
  });

  test("none for mutations and subscriptions (never shared)", () => {
    expect(dedupKey(req({ operationType: OperationTypeNode.MUTATION, document: parse("mutation Q { x }") }), "c")).toBeUndefined();
    expect(dedupKey(req({ operationType: OperationTypeNode.SUBSCRIPTION, document: parse("subscription Q { x }") }), "c")).toBeUndefined();
    // Without operationType: read from the document.
    expect(dedupKey(req({ operationType: undefined, document: parse("mutation Q { x }") }), "c")).toBeUndefined();
  });

  test("stableJson sorts keys at every level and keeps arrays in order", () => {
    expect(stableJson({ b: 1, a: [{ d: 1, c: 2 }, 3] })).toBe('{"a":[{"c":2,"d":1},3],"b":1}');
    expect(stableJson([2, 1])).toBe("[2,1]");
  });
});

describe("withDeduplication", () => {
  test("one execution for identical requests in flight; each waiter gets its own copy", async () => {
    const h = held();
    const exec = withDeduplication(h.executor, "unit-copy");
    const p1 = exec(req()) as Promise<ExecutionResult>;
    const p2 = exec(
      req({ context: { requestId: "r2", identity: { accountId: "a", roles: ["customer"], sessionId: "s" } } }),
    ) as Promise<ExecutionResult>;
    expect(h.calls()).toBe(1);
    const shared = {
      data: { product: { id: "1", name: "Table", tags: ["a"] } },
      errors: [new GraphQLError("partial", { path: ["product", "x"], extensions: { code: "X" } })],
    };
    h.answer(shared);
    const [r1, r2] = await Promise.all([p1, p2]);
    expect(r2).toEqual(r1);
    // A runtime merging into its result (Object.assign of entities) is not seen by the other.
    (r1.data as { product: Record<string, unknown> }).product["price"] = 10;
    (r1.data as { product: { tags: string[] } }).product.tags.push("b");
    expect(r2.data).toEqual({ product: { id: "1", name: "Table", tags: ["a"] } });
    expect(r2.errors?.[0]).toBeInstanceOf(GraphQLError);
    expect(r2.errors?.[0]).not.toBe(r1.errors?.[0] as GraphQLError);
    expect(r2.errors?.[0]?.extensions).toEqual({ code: "X" });
    // Settled: the next identical request executes again (no cache).
    const p3 = exec(req()) as Promise<ExecutionResult>;
    expect(h.calls()).toBe(2);
    h.answer({ data: { product: null } });
    expect(await p3).toEqual({ data: { product: null } });
  });

  test("a throw reaches every waiter", async () => {
    const h = held();
    const exec = withDeduplication(h.executor, "unit-throw");
    const all = [exec(req()), exec(req()), exec(req())] as Promise<ExecutionResult>[];
    expect(h.calls()).toBe(1);
    const boom = new Error("boom");
    h.fail(boom);
    const settled = await Promise.allSettled(all);
    expect(settled.map((s) => (s.status === "rejected" ? s.reason : s.value))).toEqual([boom, boom, boom]);
  });

  test("different callers, mutations: each executes", async () => {
    const h = held();
    const exec = withDeduplication(h.executor, "unit-apart");
    const ps = [
      exec(req()),
      exec(req({ context: { requestId: "r2", identity: { accountId: "b", roles: ["customer"] } } })),
      exec(req({ operationType: OperationTypeNode.MUTATION, document: parse("mutation Q { x }") })),
      exec(req({ operationType: OperationTypeNode.MUTATION, document: parse("mutation Q { x }") })),
    ];
    expect(h.calls()).toBe(4);
    h.answer({ data: {} });
    await Promise.all(ps);
  });
});
