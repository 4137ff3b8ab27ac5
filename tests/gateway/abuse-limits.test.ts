import { describe, expect, test } from "bun:test";
import { parse } from "graphql";
import { countRootMutationFields } from "../../src/gateway/plugins/auth-rate-limit.ts";
import { bindingDecision, hitAuthBudget, hitRequestBudgets, RateLimiter } from "../../src/gateway/middleware/rate-limit.ts";
import { MemoryRateLimitStore } from "../../src/gateway/middleware/rate-limit-store.ts";
import { releasing, SubscriptionSlots, SUBSCRIPTION_LIMIT } from "../../src/gateway/plugins/subscription-limits.ts";

/** The pure parts of the abuse limits; the gateway tests (auth-rate-limit, http-protection, e2e) cover them end to end. */

describe("countRootMutationFields", () => {
  const auth = new Set(["register", "login", "refreshToken"]);
  const count = (doc: string, op?: string) => countRootMutationFields(parse(doc), op, auth);

  test("counts every occurrence of a listed root field of the mutation, aliases and fragments included", () => {
    expect(count(`mutation { login(email: "a", password: "b") { token } }`)).toBe(1);
    expect(
      count(
        `mutation { a: login(email: "a", password: "b") { token } b: login(email: "a", password: "b") { token } c: register(input: {}) { token } }`,
      ),
    ).toBe(3);
    expect(
      count(`mutation { ...F ... on Mutation { refreshToken { token } } } fragment F on Mutation { login { token } register { token } }`),
    ).toBe(3);
    expect(count(`mutation { createOrder(input: {}) { id } }`)).toBe(0);
  });

  test("nested fields of that name, queries and subscriptions do not count; the named operation is the one looked at", () => {
    expect(count(`mutation { createOrder { login } }`)).toBe(0);
    expect(count(`query { login }`)).toBe(0);
    expect(count(`subscription { login }`)).toBe(0);
    expect(count(`query Q { login } mutation M { login { token } }`, "M")).toBe(1);
    expect(count(`query Q { login } mutation M { login { token } }`, "Q")).toBe(0);
  });
});

describe("rate-limit budgets", () => {
  test("a request counts against its IP and its account: the binding decision is the tighter budget", async () => {
    const store = new MemoryRateLimitStore();
    const now = () => 1_000_000;
    const limits = {
      ip: new RateLimiter(store, { max: 4, windowS: 60, now }),
      account: new RateLimiter(store, { max: 2, windowS: 60, now }),
    };
    const a = await hitRequestBudgets(limits, { ip: "1.2.3.4", accountId: "acc" });
    expect(a).toMatchObject({ allowed: true, limit: 2, remaining: 1 });
    expect((await hitRequestBudgets(limits, { ip: "1.2.3.4", accountId: "acc" }))?.allowed).toBe(true);
    expect((await hitRequestBudgets(limits, { ip: "1.2.3.4", accountId: "acc" }))?.allowed).toBe(false); // account over
    // Another account from the same address: its own budget is fresh, but the address has one request left.
    expect(await hitRequestBudgets(limits, { ip: "1.2.3.4", accountId: "other" })).toMatchObject({ allowed: true, limit: 4, remaining: 0 });
    expect(await hitRequestBudgets(limits, { ip: "1.2.3.4", accountId: "third" })).toMatchObject({ allowed: false, limit: 4 });
    expect(await hitRequestBudgets(limits, { ip: "1.2.3.4" })).toMatchObject({ allowed: false, limit: 4 });
    expect(await hitRequestBudgets({}, { ip: "1.2.3.4" })).toBeUndefined();
  });

  test("the auth budget counts n operations at once and is separate from the request budget", async () => {
    const store = new MemoryRateLimitStore();
    const limits = { ip: new RateLimiter(store, { max: 100, windowS: 60 }), auth: new RateLimiter(store, { max: 3, windowS: 60 }) };
    expect((await hitAuthBudget(limits, "ip1", 3))?.allowed).toBe(true);
    expect((await hitAuthBudget(limits, "ip1", 1))?.allowed).toBe(false);
    expect((await hitAuthBudget(limits, "ip2", 4))?.allowed).toBe(false);
    expect(await hitAuthBudget(limits, "ip3", 0)).toBeUndefined();
    expect((await hitRequestBudgets(limits, { ip: "ip1" }))?.remaining).toBe(99);
  });

  test("bindingDecision: a refusal wins; else the fewest remaining", () => {
    expect(
      bindingDecision([
        { allowed: true, limit: 10, remaining: 5, resetS: 3 },
        { allowed: true, limit: 4, remaining: 2, resetS: 3 },
      ])?.limit,
    ).toBe(4);
    expect(
      bindingDecision([
        { allowed: true, limit: 10, remaining: 0, resetS: 3 },
        { allowed: false, limit: 40, remaining: 0, resetS: 3 },
      ])?.limit,
    ).toBe(40);
    expect(bindingDecision([])).toBeUndefined();
  });
});

describe("SubscriptionSlots", () => {
  test("caps per account and per IP; an anonymous holder only counts against its IP; release is idempotent", () => {
    const slots = new SubscriptionSlots({ perConnection: 2, perAccount: 2, perIp: 3 });
    const a1 = slots.acquire({ ip: "x", accountId: "a" });
    const a2 = slots.acquire({ ip: "x", accountId: "a" });
    const a3 = slots.acquire({ ip: "y", accountId: "a" });
    expect("release" in a1 && "release" in a2).toBe(true);
    expect("error" in a3 && a3.error.extensions).toMatchObject({ code: SUBSCRIPTION_LIMIT, scope: "account", limit: 2 });
    const anon = slots.acquire({ ip: "x" });
    const anon2 = slots.acquire({ ip: "x" });
    expect("release" in anon).toBe(true);
    expect("error" in anon2 && anon2.error.extensions).toMatchObject({ code: SUBSCRIPTION_LIMIT, scope: "ip", limit: 3 });
    if (!("release" in a1)) throw new Error("unreachable");
    a1.release();
    a1.release();
    expect(slots.count("account:a")).toBe(1);
    expect(slots.count("ip:x")).toBe(2);
    expect("release" in slots.acquire({ ip: "z", accountId: "a" })).toBe(true);
    expect(slots.connectionFull(1)).toBeUndefined();
    expect(slots.connectionFull(2)?.extensions).toMatchObject({ code: SUBSCRIPTION_LIMIT, scope: "connection", limit: 2 });
    expect(new SubscriptionSlots({ perConnection: 0, perAccount: 0, perIp: 0 }).connectionFull(1_000)).toBeUndefined();
  });

  test("releasing: released once when the stream ends, is returned before its first item, or fails", async () => {
    let released = 0;
    const release = () => void released++;
    async function* two() {
      yield 1;
      yield 2;
    }
    const done = releasing(two(), release);
    expect([(await done.next()).value, (await done.next()).value, (await done.next()).done]).toEqual([1, 2, true]);
    expect(released).toBe(1);
    await releasing(two(), release).return?.(undefined);
    expect(released).toBe(2);
    // biome-ignore lint/correctness/useYield: a generator that fails before its first value.
    async function* failing(): AsyncGenerator<number> {
      throw new Error("boom");
    }
    await expect(releasing(failing(), release).next()).rejects.toThrow("boom");
    expect(released).toBe(3);
  });
});
