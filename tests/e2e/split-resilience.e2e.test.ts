/**
 * Resilience in split mode, with real processes: a module killed and restarted (partial
 * answers once fetches waited SUBGRAPH_TIMEOUT_MS for a responder; BREAKER_FAILURES such full
 * waits open the breaker and fetches then fail fast; full answers again as soon as an instance
 * serves it and a half-open trial finds it), and a module
 * stopped with SIGTERM under load (graceful drain: nothing in flight is lost).
 */
import { adminJson } from "../helpers/admin.ts";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ClientError } from "graphql-request";
import { client } from "../helpers/client.ts";

import { startSplitTopology } from "../helpers/topology.ts";
import type { SplitTopology } from "../../scripts/split-topology.ts";
import { allProducts, CREATE_ORDER, MY_ORDERS, newAccount, stockOf } from "./flows.ts";
import { eventually } from "../helpers/eventually.ts";

const MIXED = `query Mixed { categories { name } me { name } }`;
type Mixed = { categories: { name: string }[]; me: { name: string } | null };
type Answer = { data?: Mixed | null; errors?: { message: string; extensions?: Record<string, unknown> }[] };

async function post(url: string, query: string, token: string, variables: Record<string, unknown> = {}): Promise<Answer> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as Answer;
}

describe("split mode resilience (real processes)", () => {
  let t: SplitTopology;
  let url: string;
  beforeAll(async () => {
    const top = await startSplitTopology({
      env: {
        BREAKER_FAILURES: "2",
        BREAKER_RESET_MS: "2000",
        SUBGRAPH_TIMEOUT_MS: "3000",
        // The tokens' session checks stay cached through the outage: each request's time is its fetch's.
        SESSION_CHECK_TTL_MS: "60000",
      },
    });
    t = top.split;
    url = top.graphqlUrl;
    // The admin token of /admin/* is registered and seen active while the account module is up:
    // the gateway's session guard keeps accepting it when the account process is killed below.
    await adminJson(t.opsUrl, { jwtSecret: t.sharedEnv["JWT_SECRET"] as string, graphqlUrl: url }, "/admin/health");
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
  });

  test("account killed: other subgraphs still answer, its fields get SUBGRAPH_UNAVAILABLE; restarted: full answers again", async () => {
    const acc = await newAccount(url, "Kim Killed");
    const full = await post(url, MIXED, acc.token);
    expect(full.errors).toBeUndefined();
    expect(full.data?.me?.name).toBe("Kim Killed");

    const account = t.processes.find((p) => p.part === "account" && p.server.proc.exitCode === null);
    if (!account) throw new Error("no account process");
    account.server.proc.kill("SIGKILL");
    await account.server.proc.exited;

    const partial = await post(url, MIXED, acc.token);
    expect(partial.data?.categories.length).toBeGreaterThan(0);
    expect(partial.data?.me).toBeNull();
    expect(partial.errors?.map((e) => e.extensions?.["code"])).toEqual(["SUBGRAPH_UNAVAILABLE"]);

    // Once its lease expired the account module is gone from the registry, but the supergraph
    // keeps its fields: still a partial answer, not a validation error.
    await eventually(
      "account to leave the registry",
      async () => {
        const s = await adminJson<{ registered: string[] }>(
          t.opsUrl,
          { jwtSecret: t.sharedEnv["JWT_SECRET"] as string, graphqlUrl: t.graphqlUrl },
          "/admin/supergraph",
        );
        return !s.registered.includes("account");
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    const later = await post(url, MIXED, acc.token);
    expect(later.data?.categories.length).toBeGreaterThan(0);
    expect(later.errors?.map((e) => e.extensions?.["code"])).toEqual(["SUBGRAPH_UNAVAILABLE"]);
    // Nobody took those two fetches during their whole wait (BREAKER_FAILURES=2): the account is
    // absent for longer than a caller can wait, so its breaker opened and the next fetch fails
    // fast instead of waiting SUBGRAPH_TIMEOUT_MS again (sent at once: within BREAKER_RESET_MS).
    const fast = await post(url, MIXED, acc.token);
    expect(fast.data?.categories.length).toBeGreaterThan(0);
    expect(fast.errors?.map((e) => e.extensions?.["code"])).toEqual(["SUBGRAPH_UNAVAILABLE"]);
    expect(fast.errors?.[0]?.message).toContain("circuit breaker of subgraph:account is open");
    const health = await adminJson<{ breakers: Record<string, string> }>(
      t.opsUrl,
      { jwtSecret: t.sharedEnv["JWT_SECRET"] as string, graphqlUrl: t.graphqlUrl },
      "/admin/health",
    );
    expect(health.breakers["subgraph:account"]).toBe("open");

    await t.spawn("account", "account-2");
    let answer: Answer | undefined;
    await eventually(
      "full answers after account returns",
      async () => {
        answer = await post(url, MIXED, acc.token);
        return answer.data?.me?.name === "Kim Killed";
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    expect(answer?.errors).toBeUndefined();
    const after = await adminJson<{ breakers: Record<string, string> }>(
      t.opsUrl,
      { jwtSecret: t.sharedEnv["JWT_SECRET"] as string, graphqlUrl: t.graphqlUrl },
      "/admin/health",
    );
    expect(after.breakers["subgraph:account"]).toBe("closed");
  }, 90_000);

  test("SIGTERM to the order process under load: every order either completes or was never accepted", async () => {
    const acc = await newAccount(url, "Sigrid Term");
    const product = (await allProducts(url)).filter((p) => p.stock >= 60).at(-1);
    if (!product) throw new Error("no product with enough stock");
    const stockBefore = await stockOf(url, product.id);
    const order = t.processes.find((p) => p.part === "order" && p.server.proc.exitCode === null);
    if (!order) throw new Error("no order process");

    const c = client(url, acc.token);
    const attempts = Array.from({ length: 40 }, async (_, i): Promise<"ok" | "unavailable"> => {
      await Bun.sleep(i * 15);
      try {
        const r = await c.request<{ createOrder: { id: string } }>(CREATE_ORDER, {
          input: { items: [{ productId: product.id, quantity: 1 }] },
        });
        expect(r.createOrder.id).toBeTruthy();
        return "ok";
      } catch (err) {
        if (!(err instanceof ClientError)) throw err;
        const codes = (err.response.errors ?? []).map((e) => (e.extensions as Record<string, unknown> | undefined)?.["code"]);
        // Not accepted: the gateway found no order instance (never retried: a mutation).
        expect(codes).toEqual(["SUBGRAPH_UNAVAILABLE"]);
        return "unavailable";
      }
    });
    await Bun.sleep(200); // mid-load on purpose: the SIGTERM lands while attempts are in flight
    order.server.proc.kill("SIGTERM");
    const outcomes = await Promise.all(attempts);
    expect(await order.server.proc.exited).toBe(0);
    expect(order.server.output()).toContain('"msg":"bye"');
    const ok = outcomes.filter((o) => o === "ok").length;
    expect(ok).toBeGreaterThan(0);
    // The signal came mid-load: later requests found no order instance.
    expect(outcomes).toContain("unavailable");

    // Restart the order module: exactly the completed orders exist, and the stock moved by them only.
    await t.spawn("order", "order-2");
    await eventually(
      "order module back",
      async () => {
        try {
          await c.request(MY_ORDERS);
          return true;
        } catch {
          return false;
        }
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    const mine = await c.request<{ me: { orders: { id: string }[] } }>(MY_ORDERS);
    expect(mine.me.orders.length).toBe(ok);
    expect(await stockOf(url, product.id)).toBe(stockBefore - ok);
  }, 90_000);
});
