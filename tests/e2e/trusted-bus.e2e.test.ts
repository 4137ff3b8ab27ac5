import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, headers as natsHeaders, type NatsConnection } from "nats";
import { BusIdentity } from "../../src/kernel/bus-identity.ts";
import type { SplitTopology } from "../../scripts/split-topology.ts";
import { startSplitTopology, type Topology } from "../helpers/topology.ts";
import { CREATE_ORDER, LOGIN, PAY_ORDER, newAccount } from "./flows.ts";
import { eventually } from "../helpers/eventually.ts";

/**
 * Finding 10 of issue 10 in split mode, against a real nats-server started with the per-part
 * users and subject permissions generated from the modules' contracts (as `npm run start:split`
 * and every split test run it):
 * - a raw NATS client holding one module's credentials cannot request another module's
 *   `graphql.*` subject, nor read the gateway's inbox (permission violations);
 * - a raw client that can reach `graphql.catalog` (the gateway's NATS credentials, stolen) and
 *   sends `setStock` with a hand-written, foreign-key or expired `sy-identity` claiming admin
 *   is refused with UNAUTHENTICATED, and the stock is unchanged;
 * - the deployment itself (gateway and modules with their own users) still works end to end,
 *   admin mutations included (the gateway's signed identity is accepted).
 */

const ADMIN_EMAIL = "root@switchyard.example";
const ADMIN_PASSWORD = "trusted bus admin password";
const SET_STOCK = `mutation($productId: ID!, $stock: Int!) { setStock(productId: $productId, stock: $stock) { id stock } }`;

interface GqlResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

describe("trusted bus [split]", () => {
  let top: Topology & { split: SplitTopology };
  let split: SplitTopology;
  let adminToken: string;
  let productId: string;
  const opened: NatsConnection[] = [];

  async function gql<T>(query: string, variables: Record<string, unknown> = {}, token?: string): Promise<GqlResponse<T>> {
    const res = await fetch(top.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    const text = await res.text();
    try {
      return JSON.parse(text) as GqlResponse<T>;
    } catch {
      throw new Error(`HTTP ${res.status} from the gateway: ${text.slice(0, 500)}\n${top.output()}`);
    }
  }
  const stockOf = async (id: string): Promise<number> => {
    const r = await gql<{ product: { stock: number } }>(`query($id: ID!) { product(id: $id) { stock } }`, { id });
    if (!r.data?.product) throw new Error(JSON.stringify(r));
    return r.data.product.stock;
  };
  /** A raw nats.js connection as `part` (its NATS_USER / NATS_PASS), with the part's inbox prefix. */
  async function rawAs(part: string, inboxPrefix = `_INBOX.${part}`): Promise<NatsConnection> {
    const env = split.natsEnv(part);
    const nc = await connect({ servers: split.nats.url, user: env["NATS_USER"], pass: env["NATS_PASS"], inboxPrefix });
    opened.push(nc);
    return nc;
  }
  /** Sends setStock on graphql.catalog over a raw connection with the given identity header. */
  async function forgedSetStock(nc: NatsConnection, identity: string, requestId: string, stock: number): Promise<GqlResponse<unknown>> {
    const h = natsHeaders();
    h.set("sy-request-id", requestId);
    h.set("sy-identity", identity);
    const reply = await nc.request(
      "graphql.catalog",
      new TextEncoder().encode(JSON.stringify({ query: SET_STOCK, variables: { productId, stock } })),
      { timeout: 5000, headers: h },
    );
    return JSON.parse(new TextDecoder().decode(reply.data)) as GqlResponse<unknown>;
  }

  beforeAll(async () => {
    top = await startSplitTopology({ env: { ADMIN_EMAIL, ADMIN_PASSWORD } });
    split = top.split;
    const login = await gql<{ login: { token: string } }>(LOGIN, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    if (!login.data?.login) throw new Error(JSON.stringify(login));
    adminToken = login.data.login.token;
    const products = await gql<{ products: { edges: { node: { id: string } }[] } }>(`{ products(first: 1) { edges { node { id } } } }`);
    const first = products.data?.products.edges[0]?.node.id;
    if (!first) throw new Error(JSON.stringify(products));
    productId = first;
  }, 180_000);

  afterAll(async () => {
    await Promise.all(opened.map((nc) => nc.close().catch(() => {})));
    await top?.stop();
  }, 60_000);

  test("the deployment works under its permissions: an admin's setStock through the gateway is applied", async () => {
    const before = await stockOf(productId);
    const r = await gql<{ setStock: { stock: number } }>(SET_STOCK, { productId, stock: before + 3 }, adminToken);
    expect(r.errors).toBeUndefined();
    expect(r.data?.setStock.stock).toBe(before + 3);
    expect(await stockOf(productId)).toBe(before + 3);
  });

  test("no part hit a permission violation doing its own work (the generated permissions cover it)", async () => {
    // Exercise events and JetStream too: an order (reserve over the bus, order.created, stock events).
    const { token } = await newAccount(top.graphqlUrl, "Trusted Bus");
    const order = await gql<{ createOrder: { id: string } }>(CREATE_ORDER, { input: { items: [{ productId, quantity: 1 }] } }, token);
    expect(order.errors).toBeUndefined();
    const paid = await gql<{ payOrder: { status: string } }>(PAY_ORDER, { orderId: order.data?.createOrder.id, token: "tok_visa" }, token);
    expect(paid.errors).toBeUndefined();
    expect(paid.data?.payOrder.status).toBe("PAID");
    for (const p of split.processes)
      expect({ part: p.name, violations: p.server.output().match(/.*permissions[ _]violation.*/gi) ?? [] }).toEqual({
        part: p.name,
        violations: [],
      });
  }, 60_000);

  test("with the catalog's credentials, another module's graphql subject is a permission violation", async () => {
    const nc = await rawAs("catalog");
    const err = await nc
      .request("graphql.account", new TextEncoder().encode(JSON.stringify({ query: "{ me { id } }" })), { timeout: 3000 })
      .then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    expect(err).toBeDefined();
    expect(String(err?.message)).toMatch(/permissions violation/i);
    // Not its own subject either: only the gateway sends subgraph requests.
    const own = await nc.request("graphql.catalog", new TextEncoder().encode("{}"), { timeout: 3000 }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(String(own?.message)).toMatch(/permissions violation/i);
    expect(nc.isClosed()).toBe(false);
  });

  test("with a module's credentials, the gateway's inbox (where login tokens travel) cannot be read", async () => {
    const nc = await rawAs("catalog");
    const errors: string[] = [];
    let got = 0;
    // nats.js hands the server's refusal to the subscription's callback.
    nc.subscribe("_INBOX.gateway.>", { callback: (err) => (err ? errors.push(err.message) : got++) });
    await nc.flush();
    const gw = await rawAs("gateway");
    gw.publish("_INBOX.gateway.probe", new TextEncoder().encode("a token"));
    await gw.flush();
    // One server answers each connection in order: a delivery routed by that publish reaches this
    // connection before the answer to its own later flush; the refusal came with the subscribe.
    await nc.flush();
    await eventually("the subscription's refusal", () => errors.length > 0, { timeoutMs: 5000 }).catch(() => {});
    expect(got).toBe(0);
    expect(errors.join("; ")).toMatch(/permissions violation/i);
  });

  test("the order module may request catalog.stock.reserve; the payment module may not", async () => {
    const body = new TextEncoder().encode(JSON.stringify({ reservationId: "trusted-bus-probe", items: [] }));
    const order = await rawAs("order");
    // Allowed: answered by the catalog (an error reply for the empty item list, but an answer).
    const reply = await order.request("catalog.stock.reserve", body, { timeout: 5000 });
    expect(reply.headers?.get("sy-error")).toBe("BAD_USER_INPUT");
    const payment = await rawAs("payment");
    const err = await payment.request("catalog.stock.reserve", body, { timeout: 3000 }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(String(err?.message)).toMatch(/permissions violation/i);
  });

  test("a forged, foreign-key or expired identity claiming admin is refused with UNAUTHENTICATED and writes nothing", async () => {
    // The strongest attacker short of the signing key: the gateway's own NATS credentials.
    const nc = await rawAs("gateway");
    const before = await stockOf(productId);
    const handWritten = JSON.stringify({ accountId: "mallory", roles: ["admin"] });
    const foreign = new BusIdentity({ key: "attacker-key-attacker-key-attacker-key-0", ttlMs: 30_000 }).sign(
      { accountId: "mallory", roles: ["admin"] },
      "r-foreign",
    );
    const expired = new BusIdentity({ key: split.sharedEnv["BUS_SIGNING_KEY"] as string, ttlMs: 1000, now: () => Date.now() - 5000 }).sign(
      { accountId: "mallory", roles: ["admin"] },
      "r-expired",
    );
    for (const [identity, rid] of [
      [handWritten, "r-hand"],
      [foreign, "r-foreign"],
      [expired, "r-expired"],
    ] as const) {
      const r = await forgedSetStock(nc, identity, rid, 0);
      expect(r.data ?? null).toBeNull();
      expect(r.errors?.map((e) => e.extensions?.code)).toEqual(["UNAUTHENTICATED"]);
    }
    expect(await stockOf(productId)).toBe(before);
    // The control: the same raw request signed with the deployment's key is believed.
    const real = new BusIdentity({ key: split.sharedEnv["BUS_SIGNING_KEY"] as string, ttlMs: 30_000 }).sign(
      { accountId: "ops", roles: ["admin"] },
      "r-real",
    );
    const ok = await forgedSetStock(nc, real, "r-real", before + 1);
    expect(ok.errors).toBeUndefined();
    expect(await stockOf(productId)).toBe(before + 1);
  });
});
