import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { client } from "../helpers/client.ts";
import { selectedTopologies, TOPOLOGIES, type Topology } from "../helpers/topology.ts";
import { allProducts, LOGIN, REGISTER } from "./flows.ts";
import { readSse } from "../helpers/sse.ts";
import { eventually } from "../helpers/eventually.ts";

/**
 * Subscription caps (finding 8: one WebSocket held 300 concurrent subscriptions), through the
 * gateway over a real WebSocket (graphql-transport-ws) and over SSE, in both topologies:
 * per connection, per account (WebSocket + SSE together) and per client IP. A refused
 * subscription gets SUBSCRIPTION_LIMIT (a graphql-ws `error` message for that id; over SSE the
 * stream's only result); the socket and the other subscriptions keep working; a completed or
 * closed subscription frees its slot. TRUST_PROXY=true lets each test be its own address
 * (X-Forwarded-For, as a proxy would set it).
 */
setDefaultTimeout(60_000);

const CAPS = { connection: 3, account: 5, ip: 8 };
const ADMIN_EMAIL = "sublimits-admin@switchyard.example";
const ADMIN_PASSWORD = "subscription limits admin password";
const ENV = {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  TRUST_PROXY: "true",
  MAX_SUBSCRIPTIONS_PER_CONNECTION: String(CAPS.connection),
  MAX_SUBSCRIPTIONS_PER_ACCOUNT: String(CAPS.account),
  MAX_SUBSCRIPTIONS_PER_IP: String(CAPS.ip),
};
const WATCH_STOCK = `subscription P($productId: ID!) { productStockChanged(productId: $productId) { id stock } }`;
const SET_STOCK = `mutation S($id: ID!, $stock: Int!) { setStock(productId: $id, stock: $stock) { id stock } }`;

interface GqlError {
  message: string;
  extensions?: Record<string, unknown>;
}
interface Message {
  type: string;
  id?: string;
  payload?: unknown;
}

/** Whether `pred` holds within `ms` (checked every 50 ms). */
const within = (what: string, pred: () => boolean, ms: number): Promise<boolean> =>
  eventually(what, pred, { timeoutMs: ms, intervalMs: 50 }).then(
    () => true,
    () => false,
  );

/** A raw graphql-transport-ws connection from `address` (optionally with a token). */
async function socket(url: string, address: string, token?: string) {
  const ws = new WebSocket(url.replace(/^http/, "ws"), {
    headers: { "x-forwarded-for": address },
    protocols: ["graphql-transport-ws"],
  } as unknown as string[]);
  const inbox: Message[] = [];
  ws.onmessage = (e) => void inbox.push(JSON.parse(String(e.data)) as Message);
  await new Promise<void>((resolve, reject) => ((ws.onopen = () => resolve()), (ws.onerror = () => reject(new Error("socket refused")))));
  ws.send(JSON.stringify({ type: "connection_init", payload: token ? { authorization: `Bearer ${token}` } : {} }));
  if (!(await within("connection_ack", () => inbox.some((m) => m.type === "connection_ack"), 10_000))) throw new Error("no connection_ack");
  return {
    ws,
    subscribe: (id: string, productId: string) =>
      ws.send(JSON.stringify({ id, type: "subscribe", payload: { query: WATCH_STOCK, variables: { productId } } })),
    complete: (id: string) => ws.send(JSON.stringify({ id, type: "complete" })),
    /** The `error` message's errors for `id`, if one arrived. */
    errorOf: (id: string) => inbox.find((m) => m.id === id && m.type === "error")?.payload as GqlError[] | undefined,
    nexts: (id: string) => inbox.filter((m) => m.id === id && m.type === "next").length,
  };
}
type Socket = Awaited<ReturnType<typeof socket>>;

/** A raw GraphQL-over-SSE subscription from `address`; resolves once the response headers arrived. */
async function sse(url: string, address: string, productId: string, token?: string) {
  const abort = new AbortController();
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "text/event-stream",
      "x-forwarded-for": address,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query: WATCH_STOCK, variables: { productId } }),
    signal: abort.signal,
  });
  const results: { data?: unknown; errors?: GqlError[] }[] = [];
  void readSse(res, (e) => {
    if (e.event === "next") results.push(JSON.parse(e.data) as { data?: unknown; errors?: GqlError[] });
  });
  return { status: res.status, results, close: () => abort.abort() };
}

const limitOf = (errors: GqlError[] | undefined) => errors?.[0]?.extensions;

for (const name of selectedTopologies()) {
  describe(`subscription caps [${name}]`, () => {
    let t: Topology;
    let url: string;
    let adminToken: string;
    let productId: string;
    let stock = 1000;
    let seq = 0;
    const newAddress = () => `203.0.113.${++seq}`;
    const closeLater: (() => void)[] = [];

    /** Changes the product's stock until `received()` holds (each change is one event to every live subscription). */
    const changeStockUntil = async (received: () => boolean): Promise<void> => {
      for (let i = 0; i < 30 && !received(); i++) {
        await client(url, adminToken).request(SET_STOCK, { id: productId, stock: ++stock });
        await within("the stock change to arrive", received, 300);
      }
      expect(received()).toBe(true);
    };
    /** Subscribes `id`-prefixed operations until one is not refused within 300 ms (a released slot is freed asynchronously). */
    const subscribeOnceFree = async (s: Socket, id: string): Promise<string> => {
      for (let i = 0; i < 20; i++) {
        const attempt = `${id}-${i}`;
        s.subscribe(attempt, productId);
        if (!(await within(`a refusal of ${attempt}`, () => s.errorOf(attempt) !== undefined, 300))) return attempt;
        expect(limitOf(s.errorOf(attempt))?.["code"]).toBe("SUBSCRIPTION_LIMIT");
      }
      throw new Error(`${id}: still refused`);
    };
    const register = async (address: string): Promise<string> => {
      const email = `sublimits.${crypto.randomUUID()}@example.com`;
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": address },
        body: JSON.stringify({ query: REGISTER, variables: { input: { name: "Subscriber", email, password: "subscriber password" } } }),
      });
      return ((await res.json()) as { data: { register: { token: string } } }).data.register.token;
    };

    beforeAll(async () => {
      const start = TOPOLOGIES[name];
      if (!start) throw new Error(`unknown topology ${name}`);
      t = await start({ env: ENV });
      url = t.graphqlUrl;
      adminToken = (await client(url).request<{ login: { token: string } }>(LOGIN, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).login
        .token;
      const product = (await allProducts(url)).find((p) => !p.name.startsWith("Limited Edition"));
      if (!product) throw new Error("no product");
      productId = product.id;
    }, 120_000);
    afterAll(async () => {
      for (const close of closeLater) close();
      await t?.stop();
    }, 60_000);

    test(`WebSocket: the subscription over MAX_SUBSCRIPTIONS_PER_CONNECTION (${CAPS.connection}) gets an error message with SUBSCRIPTION_LIMIT; the socket and the others keep working; a completed one frees its slot`, async () => {
      const s = await socket(url, newAddress());
      closeLater.push(() => s.ws.close());
      for (const id of ["s1", "s2", "s3"]) s.subscribe(id, productId);
      await changeStockUntil(() => ["s1", "s2", "s3"].every((id) => s.nexts(id) > 0));
      s.subscribe("s4", productId);
      expect(await within("the refusal of s4", () => s.errorOf("s4") !== undefined, 10_000)).toBe(true);
      expect(limitOf(s.errorOf("s4"))).toMatchObject({ code: "SUBSCRIPTION_LIMIT", scope: "connection", limit: CAPS.connection });
      expect(s.ws.readyState).toBe(WebSocket.OPEN);
      // The refused one got no events; the others still do.
      const before = ["s1", "s2", "s3"].map((id) => s.nexts(id));
      await changeStockUntil(() => ["s1", "s2", "s3"].every((id, i) => s.nexts(id) > (before[i] ?? 0)));
      expect(s.nexts("s4")).toBe(0);
      // Completing one frees its slot: a new subscription is accepted and receives events.
      s.complete("s1");
      const fresh = await subscribeOnceFree(s, "s5");
      await changeStockUntil(() => s.nexts(fresh) > 0);
      // Reusing an id once completed (the protocol allows it) neither leaks a slot nor frees one twice.
      s.complete("s2");
      for (let i = 0; i < 5; i++) {
        s.subscribe("again", productId);
        s.complete("again");
      }
      const one = await subscribeOnceFree(s, "s6");
      s.subscribe("s7", productId);
      expect(await within("the refusal of s7", () => s.errorOf("s7") !== undefined, 10_000)).toBe(true);
      expect(limitOf(s.errorOf("s7"))).toMatchObject({ code: "SUBSCRIPTION_LIMIT", scope: "connection" });
      await changeStockUntil(() => s.nexts(one) > 0);
      s.ws.close();
    });

    test(`account: MAX_SUBSCRIPTIONS_PER_ACCOUNT (${CAPS.account}) counts WebSocket and SSE subscriptions of one account together, across connections; closing an SSE stream frees its slot`, async () => {
      const address = newAddress();
      const token = await register(address);
      const stream = await sse(url, address, productId, token);
      closeLater.push(stream.close);
      expect(stream.status).toBe(200);
      const one = await socket(url, address, token);
      const two = await socket(url, newAddress(), token);
      closeLater.push(
        () => one.ws.close(),
        () => two.ws.close(),
      );
      for (const id of ["a1", "a2", "a3"]) one.subscribe(id, productId);
      two.subscribe("b1", productId);
      await changeStockUntil(() => ["a1", "a2", "a3"].every((id) => one.nexts(id) > 0) && two.nexts("b1") > 0 && stream.results.length > 0);
      // 1 SSE + 4 WebSocket = 5: the next one, on either transport, is refused.
      two.subscribe("b2", productId);
      expect(await within("the refusal of b2", () => two.errorOf("b2") !== undefined, 10_000)).toBe(true);
      expect(limitOf(two.errorOf("b2"))).toMatchObject({ code: "SUBSCRIPTION_LIMIT", scope: "account", limit: CAPS.account });
      const refusedSse = await sse(url, newAddress(), productId, token);
      expect(await within("the SSE refusal", () => refusedSse.results.length > 0, 10_000)).toBe(true);
      expect(limitOf(refusedSse.results[0]?.errors)).toMatchObject({ code: "SUBSCRIPTION_LIMIT", scope: "account" });
      refusedSse.close();
      // Anonymous subscriptions from the same address are not the account's.
      const anon = await socket(url, address);
      closeLater.push(() => anon.ws.close());
      anon.subscribe("anon", productId);
      // Closing the SSE stream frees its slot for a WebSocket subscription of the account.
      stream.close();
      const fresh = await subscribeOnceFree(two, "b3");
      await changeStockUntil(() => two.nexts(fresh) > 0 && anon.nexts("anon") > 0);
      expect(anon.errorOf("anon")).toBeUndefined();
      for (const s of [one, two, anon]) s.ws.close();
    });

    test(`address: MAX_SUBSCRIPTIONS_PER_IP (${CAPS.ip}) counts every subscription from one address, anonymous or not; closing a socket frees its slots`, async () => {
      const address = newAddress();
      const streams: Awaited<ReturnType<typeof sse>>[] = [];
      for (let i = 0; i < 5; i++) {
        const s = await sse(url, address, productId);
        closeLater.push(s.close);
        expect(s.status).toBe(200);
        streams.push(s);
      }
      const ws = await socket(url, address);
      closeLater.push(() => ws.ws.close());
      for (const id of ["w1", "w2", "w3"]) ws.subscribe(id, productId);
      await changeStockUntil(() => ["w1", "w2", "w3"].every((id) => ws.nexts(id) > 0) && streams.every((s) => s.results.length > 0));
      // 5 SSE + 3 WebSocket = 8: refused for anyone from this address, even with a token.
      const token = await register(newAddress());
      const refused = await sse(url, address, productId, token);
      expect(await within("the refusal", () => refused.results.length > 0, 10_000)).toBe(true);
      expect(limitOf(refused.results[0]?.errors)).toMatchObject({ code: "SUBSCRIPTION_LIMIT", scope: "ip", limit: CAPS.ip });
      refused.close();
      // Another address is unaffected.
      const other = await socket(url, newAddress());
      closeLater.push(() => other.ws.close());
      other.subscribe("o1", productId);
      // Closing the socket frees its 3 slots.
      ws.ws.close();
      const after = await socket(url, address, token);
      closeLater.push(() => after.ws.close());
      const fresh = await subscribeOnceFree(after, "x");
      after.subscribe("y", productId);
      await changeStockUntil(() => after.nexts(fresh) > 0 && after.nexts("y") > 0 && other.nexts("o1") > 0);
      expect(after.errorOf("y")).toBeUndefined();
      for (const s of streams) s.close();
      other.ws.close();
      after.ws.close();
    });
  });
}
