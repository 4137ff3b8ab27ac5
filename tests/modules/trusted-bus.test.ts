import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { ExecutionResult } from "graphql";
import { BusIdentity } from "../../src/kernel/bus-identity.ts";
import { encodeJson } from "../../src/kernel/bus/codec.ts";
import { openStream } from "../../src/kernel/bus/stream.ts";
import type { Headers } from "../../src/kernel/bus/types.ts";
import { IDENTITY_HEADER, REQUEST_ID_HEADER, type Identity } from "../../src/kernel/identity.ts";
import { subgraphStreamSubject } from "../../src/kernel/subgraph/server.ts";
import { metricsRegistry } from "../../src/kernel/metrics.ts";
import { catalogModule } from "../../src/modules/catalog/module.ts";
import { startModules, type ModuleHarness } from "../helpers/modules.ts";

/**
 * Finding 10 of issue 10, in the monolith (memory bus): whoever sends a subgraph request with a
 * hand-written `sy-identity` claiming `admin` gets UNAUTHENTICATED and nothing runs. Only an
 * identity signed with this deployment's BUS_SIGNING_KEY, not expired and bound to the request
 * id, is believed. The split-mode counterpart (raw NATS clients) is tests/e2e/trusted-bus.e2e.test.ts.
 */

const ADMIN: Identity = { accountId: "admin-1", roles: ["customer", "admin"] };
const SET_STOCK = `mutation($productId: ID!, $stock: Int!) { setStock(productId: $productId, stock: $stock) { id stock } }`;
const STOCK = `query($id: ID!) { product(id: $id) { id stock } }`;
const ON_STOCK = `subscription($id: ID!) { stockChanged(productId: $id) { productId stock } }`;

describe("trusted bus: forged identities reach no resolver (memory bus)", () => {
  let h: ModuleHarness;
  let productId: string;
  let stock: number;

  /** A raw subgraph request on graphql.catalog with exactly these headers (no gateway). */
  async function raw<T>(query: string, variables: Record<string, unknown>, headers: Headers): Promise<ExecutionResult<T>> {
    const reply = await h.bus.request("graphql.catalog", encodeJson({ query, variables }), { headers, timeoutMs: 5000 });
    return reply.json<ExecutionResult<T>>();
  }
  const stockNow = async (): Promise<number> => {
    const r = await raw<{ product: { stock: number } }>(STOCK, { id: productId }, { [REQUEST_ID_HEADER]: "read" });
    return r.data?.product.stock ?? -1;
  };
  /** switchyard_bus_identity_refused_total of the catalog for `reason`. */
  const refusals = async (reason: string): Promise<number> => {
    const m = (await metricsRegistry.getSingleMetric("switchyard_bus_identity_refused_total")?.get())?.values.find(
      (v) => v.labels["module"] === "catalog" && v.labels["reason"] === reason,
    );
    return m?.value ?? 0;
  };
  /** setStock(0) with `identity` as the header value; expects UNAUTHENTICATED, an unchanged stock and one more refusal counted. */
  async function refused(identity: string, reason: string, requestId = "forged"): Promise<void> {
    const before = await refusals(reason);
    const r = await raw(SET_STOCK, { productId, stock: 0 }, { [REQUEST_ID_HEADER]: requestId, [IDENTITY_HEADER]: identity });
    expect(r.data ?? null).toBeNull();
    expect(r.errors?.map((e) => e.extensions?.["code"])).toEqual(["UNAUTHENTICATED"]);
    expect(await stockNow()).toBe(stock);
    expect(await refusals(reason)).toBe(before + 1);
  }

  beforeAll(async () => {
    h = await startModules([catalogModule], { seed: true });
    const r = await raw<{ products: { edges: { node: { id: string; stock: number } }[] } }>(
      `{ products(first: 1) { edges { node { id stock } } } }`,
      {},
      {},
    );
    const first = r.data?.products.edges[0]?.node;
    if (!first) throw new Error(JSON.stringify(r));
    productId = first.id;
    stock = first.stock;
    expect(stock).toBeGreaterThan(0);
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
  });

  test("the unsigned JSON header that used to make anyone admin is refused", async () => {
    await refused(JSON.stringify({ accountId: "mallory", roles: ["admin"] }), "malformed");
  });

  test("an identity signed with another key is refused", async () => {
    const other = new BusIdentity({ key: "attacker-key-attacker-key-attacker-key-0", ttlMs: 30_000 });
    await refused(other.sign({ accountId: "mallory", roles: ["admin"] }, "forged"), "bad-signature");
  });

  test("an expired identity (signed with the real key) is refused", async () => {
    const past = new BusIdentity({ key: h.config.busSigningKey as string, ttlMs: 1000, now: () => Date.now() - 2000 });
    await refused(past.sign(ADMIN, "forged"), "expired");
  });

  test("a captured identity replayed under another request id is refused", async () => {
    await refused(h.kernel.busIdentity.sign(ADMIN, "captured"), "request-id-mismatch", "replayed");
  });

  test("an identity signed with the deployment's key runs; anonymous public reads still work", async () => {
    const r = await raw<{ setStock: { stock: number } }>(
      SET_STOCK,
      { productId, stock: stock + 1 },
      h.kernel.busIdentity.headers(ADMIN, "admin-req"),
    );
    expect(r.errors).toBeUndefined();
    expect(r.data?.setStock.stock).toBe(stock + 1);
    stock += 1;
    expect(await stockNow()).toBe(stock);
  });

  test("a subscription opened with a forged identity is refused before it starts", async () => {
    const opened = await openStream<ExecutionResult>(
      h.bus,
      subgraphStreamSubject("catalog"),
      { query: ON_STOCK, variables: { id: productId } },
      {
        headers: { [REQUEST_ID_HEADER]: "forged-sub", [IDENTITY_HEADER]: JSON.stringify({ accountId: "mallory", roles: ["admin"] }) },
      },
    );
    expect("result" in opened).toBe(true);
    if (!("result" in opened)) return;
    expect(opened.result.errors?.map((e) => e.extensions?.["code"])).toEqual(["UNAUTHENTICATED"]);
  });
});
