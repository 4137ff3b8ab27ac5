import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createClient as createSseClient } from "graphql-sse";
import { createClient as createWsClient, type Client as WsClient } from "graphql-ws";
import { client } from "../helpers/client.ts";

import { adminJson } from "../helpers/admin.ts";
import { ROOT, selectedTopologies, TOPOLOGIES, type Topology } from "../helpers/topology.ts";
import { spawnServer } from "../../scripts/devservers/proc.ts";
import type { SplitTopology } from "../../scripts/split-topology.ts";
import { allProducts, CREATE_ORDER, LOGIN, newAccount, stockOf, type ProductNode } from "./flows.ts";
import { readSse, type SseEvent } from "../helpers/sse.ts";
import { eventually } from "../helpers/eventually.ts";

/**
 * Federated subscriptions through the gateway, on the one `/graphql` endpoint: GraphQL over
 * SSE (yoga's SSE = graphql-sse "distinct connections" mode: a raw fetch-stream reader and the
 * graphql-sse client) and GraphQL over WebSocket (graphql-ws client on Bun's WebSocket). The
 * status change is caused by a mutation sent over HTTP; entity fields of other modules
 * (account name, product name) are resolved per event by the federation runtime.
 */

const ADMIN_EMAIL = "subs-admin@switchyard.example";
const ADMIN_PASSWORD = "subscriptions admin password";

const WATCH_ORDERS = `subscription W($orderId: ID) { orderStatusChanged(orderId: $orderId) { id status account { id name } items { quantity product { id name } } } }`;
const WATCH_STOCK = `subscription P($productId: ID!) { productStockChanged(productId: $productId) { id name stock } }`;
const CANCEL = `mutation X($id: ID!) { cancelOrder(id: $id) { id status } }`;
const SET_STATUS = `mutation S($id: ID!, $status: OrderStatus!) { setOrderStatus(id: $id, status: $status) { id status } }`;

interface GqlResult<T = Record<string, unknown>> {
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}
interface OrderEvent {
  orderStatusChanged: {
    id: string;
    status: string;
    account: { id: string; name: string };
    items: { quantity: number; product: { id: string; name: string } }[];
  };
}

/**
 * A raw GraphQL-over-SSE subscription (POST, `Accept: text/event-stream`): resolves once the
 * gateway answered with the event stream, i.e. once the subscription is live on the subgraph.
 */
async function sse(url: string, query: string, variables: Record<string, unknown>, token?: string) {
  const abort = new AbortController();
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
    signal: abort.signal,
  });
  const events: SseEvent[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  void readSse(res, (e) => {
    events.push(e);
    wake?.();
  }).then(() => {
    ended = true;
    wake?.();
  });
  let read = 0;
  return {
    status: res.status,
    contentType: res.headers.get("content-type") ?? "",
    /** The next `next` event's payload; throws on `complete`, end of stream or after `ms`. */
    async next<T>(ms = 10_000): Promise<GqlResult<T>> {
      const deadline = Date.now() + ms;
      for (;;) {
        const e = events[read];
        if (e) {
          read++;
          if (e.event === "next") return JSON.parse(e.data) as GqlResult<T>;
          if (e.event === "complete") throw new Error("stream completed");
          continue;
        }
        if (ended) throw new Error("stream ended");
        if (Date.now() > deadline) throw new Error("no event in time");
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
    },
    /** Every `next` payload received so far that was not read with `next()` yet. */
    pending<T>(): GqlResult<T>[] {
      return events
        .slice(read)
        .filter((e) => e.event === "next")
        .map((e) => JSON.parse(e.data) as GqlResult<T>);
    },
    close: () => abort.abort(),
  };
}

/** A graphql-ws subscription collecting its results; `done` settles on complete or error. */
function wsSubscribe<T>(ws: WsClient, query: string, variables: Record<string, unknown>) {
  const results: GqlResult<T>[] = [];
  let stop: () => void = () => {};
  const done = new Promise<{ error?: unknown }>((resolve) => {
    stop = ws.subscribe<T>(
      { query, variables },
      {
        next: (r) => void results.push(r as GqlResult<T>),
        error: (error) => resolve({ error }),
        complete: () => resolve({}),
      },
    );
  });
  return { results, done, stop: () => stop() };
}

function wsClient(url: string, token?: string, onClosed?: (code: number) => void): WsClient {
  return createWsClient({
    url: url.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: false,
    ...(token ? { connectionParams: { authorization: `Bearer ${token}` } } : {}),
    on: { closed: (e) => onClosed?.((e as CloseEvent).code) },
    onNonLazyError: () => {},
  });
}

for (const name of selectedTopologies()) {
  describe(`subscriptions end to end [${name}]`, () => {
    let t: Topology;
    let url: string;
    let adminToken: string;
    let alice: Awaited<ReturnType<typeof newAccount>>;
    let bob: Awaited<ReturnType<typeof newAccount>>;
    let products: ProductNode[];
    let next = 0;
    const fresh = (): ProductNode => {
      const p = products[next++];
      if (!p) throw new Error("ran out of products");
      return p;
    };
    const gql = <T>(query: string, variables: Record<string, unknown>, token?: string) => client(url, token).request<T>(query, variables);
    const order = async (token: string, p: ProductNode, quantity = 1): Promise<string> =>
      (await gql<{ createOrder: { id: string } }>(CREATE_ORDER, { input: { items: [{ productId: p.id, quantity }] } }, token)).createOrder
        .id;

    beforeAll(async () => {
      const start = TOPOLOGIES[name];
      if (!start) throw new Error(`unknown topology ${name}`);
      // Short heartbeats so that a killed module instance is noticed within a second or two.
      t = await start({ env: { ADMIN_EMAIL, ADMIN_PASSWORD, SUBSCRIPTION_HEARTBEAT_MS: "300" } });
      url = t.graphqlUrl;
      adminToken = (await client(url).request<{ login: { token: string } }>(LOGIN, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).login
        .token;
      alice = await newAccount(url, "Alice Subscriber");
      bob = await newAccount(url, "Bob Bystander");
      products = (await allProducts(url)).filter((p) => p.stock >= 20 && !p.name.startsWith("Limited Edition"));
    }, 120_000);
    let stopped = false;
    afterAll(async () => {
      if (!stopped) await t?.stop();
    });

    test("SSE, graphql-sse and graphql-ws clients receive the owner's status change with cross-module fields; another account receives nothing of it", async () => {
      const p = fresh();
      const aliceSse = await sse(url, WATCH_ORDERS, {}, alice.token);
      const bobSse = await sse(url, WATCH_ORDERS, {}, bob.token);
      expect(aliceSse.status).toBe(200);
      expect(aliceSse.contentType).toContain("text/event-stream");

      const ws = wsClient(url, alice.token);
      const wsSub = wsSubscribe<OrderEvent>(ws, WATCH_ORDERS, {});
      const sseClient = createSseClient({ url, headers: { authorization: `Bearer ${alice.token}` }, retryAttempts: 0 });
      const sseClientResults: GqlResult<OrderEvent>[] = [];
      const iterator = sseClient.iterate<OrderEvent>({ query: WATCH_ORDERS, variables: {} });
      void (async () => {
        for await (const r of iterator) sseClientResults.push(r as GqlResult<OrderEvent>);
      })().catch(() => {});

      try {
        // The raw SSE subscription is live (its response arrived): the first change must reach it.
        const first = await order(alice.token, p, 2);
        await gql(CANCEL, { id: first }, alice.token);
        const got = await aliceSse.next<OrderEvent>();
        expect(got.errors).toBeUndefined();
        expect(got.data?.orderStatusChanged).toEqual({
          id: first,
          status: "CANCELLED",
          account: { id: alice.id, name: "Alice Subscriber" },
          items: [{ quantity: 2, product: { id: p.id, name: p.name } }],
        });

        // graphql-ws and graphql-sse give no signal when their subscription is live: repeat
        // changes (admin sets PAID) until each of them has received one.
        for (let i = 0; i < 20 && !(wsSub.results.length > 0 && sseClientResults.length > 0); i++) {
          const id = await order(alice.token, p, 1);
          await gql(SET_STATUS, { id, status: "PAID" }, adminToken);
          expect((await aliceSse.next<OrderEvent>()).data?.orderStatusChanged).toMatchObject({ id, status: "PAID" });
          await Bun.sleep(200);
        }
        for (const r of [wsSub.results[0], sseClientResults[0]]) {
          expect(r?.errors).toBeUndefined();
          expect(r?.data?.orderStatusChanged).toMatchObject({
            account: { id: alice.id, name: "Alice Subscriber" },
            items: [{ product: { id: p.id, name: p.name } }],
          });
          expect(["CANCELLED", "PAID"]).toContain(r?.data?.orderStatusChanged.status ?? "none");
        }

        // Bob's first event is his own order: none of Alice's changes (all published before) reached him.
        const bobs = await order(bob.token, p, 1);
        await gql(CANCEL, { id: bobs }, bob.token);
        const bobFirst = await bobSse.next<OrderEvent>();
        expect(bobFirst.data?.orderStatusChanged).toMatchObject({ id: bobs, status: "CANCELLED", account: { name: "Bob Bystander" } });
        expect(wsSub.results.every((r) => r.data?.orderStatusChanged.account.id === alice.id)).toBe(true);
      } finally {
        aliceSse.close();
        bobSse.close();
        wsSub.stop();
        await iterator.return?.();
        sseClient.dispose();
        await ws.dispose();
      }
    }, 60_000);

    test("orderStatusChanged(orderId) for another account's order, or without a token: refused with NOT_FOUND / UNAUTHENTICATED, over SSE and WebSocket", async () => {
      const p = fresh();
      const alicesOrder = await order(alice.token, p, 1);

      const anonymous = await sse(url, WATCH_ORDERS, {});
      expect((await anonymous.next()).errors?.map((e) => e.extensions?.["code"])).toEqual(["UNAUTHENTICATED"]);
      anonymous.close();
      const foreign = await sse(url, WATCH_ORDERS, { orderId: alicesOrder }, bob.token);
      expect((await foreign.next()).errors?.map((e) => e.extensions?.["code"])).toEqual(["NOT_FOUND"]);
      foreign.close();

      const anonWs = wsClient(url);
      const refused = wsSubscribe(anonWs, WATCH_ORDERS, {});
      const outcome = await refused.done;
      expect(outcome.error).toBeUndefined();
      expect(refused.results.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.["code"])).toEqual(["UNAUTHENTICATED"]);
      await anonWs.dispose();

      // A forged token is refused when the connection is initialised: close code 4403.
      const forged = alice.token.slice(0, -4) + (alice.token.endsWith("AAAA") ? "BBBB" : "AAAA");
      let closeCode = 0;
      const badWs = wsClient(url, forged, (code) => (closeCode = code));
      const bad = wsSubscribe(badWs, WATCH_ORDERS, {});
      await bad.done;
      await eventually("the socket to close", async () => closeCode !== 0, { timeoutMs: 5000, intervalMs: 20 });
      expect(closeCode).toBe(4403);
      await badWs.dispose();
      // Over HTTP (SSE) a forged token is a 401 before anything runs.
      expect((await sse(url, WATCH_ORDERS, {}, forged)).status).toBe(401);
    }, 30_000);

    test("productStockChanged fires after createOrder and after cancelOrder (SSE and WebSocket, public)", async () => {
      const p = fresh();
      const before = await stockOf(url, p.id);
      const stream = await sse(url, WATCH_STOCK, { productId: p.id });
      const ws = wsClient(url);
      const wsSub = wsSubscribe<{ productStockChanged: { id: string; stock: number } }>(ws, WATCH_STOCK, { productId: p.id });
      try {
        const id = await order(alice.token, p, 3);
        expect((await stream.next()).data).toEqual({ productStockChanged: { id: p.id, name: p.name, stock: before - 3 } });
        await gql(CANCEL, { id }, alice.token);
        expect((await stream.next()).data).toEqual({ productStockChanged: { id: p.id, name: p.name, stock: before } });
        // The WebSocket subscription: repeat order + cancel until it has seen a change.
        await eventually(
          "the WebSocket subscription to see a change",
          async () => {
            if (wsSub.results.length > 0) return true;
            const again = await order(alice.token, p, 1);
            await gql(CANCEL, { id: again }, alice.token);
            return false;
          },
          { timeoutMs: 20_000, intervalMs: 200 },
        ).catch(() => {}); // asserted below
        expect(wsSub.results[0]?.data?.productStockChanged.id).toBe(p.id);
        expect(await stockOf(url, p.id)).toBe(before);
      } finally {
        stream.close();
        wsSub.stop();
        await ws.dispose();
      }
    }, 60_000);

    if (name === "split") {
      test("a supergraph swap (a new subgraph joins) keeps open subscriptions running", async () => {
        const split = (t as Topology & { split: SplitTopology }).split;
        const version = () => adminJson<{ version: number; subgraphs: string[] }>(t.opsUrl, t, "/admin/supergraph");
        const before = await version();
        const p = fresh();
        const stream = await sse(url, WATCH_ORDERS, {}, alice.token);
        const extra = spawnServer([process.execPath, join(ROOT, "tests/fixtures/extra-module.ts")], {
          env: { ...split.sharedEnv, ...split.natsEnv("extra") },
        });
        try {
          await eventually(
            "a new supergraph with the extra subgraph",
            async () => {
              const v = await version();
              return v.version > before.version && v.subgraphs.includes("extra");
            },
            { timeoutMs: 30_000, intervalMs: 200 },
          );
          const r = await client(url).request<{ extraPing: number }>("{ extraPing }");
          expect(r.extraPing).toBe(1);
          // The subscription opened on the previous schema still delivers, with entity fields.
          const id = await order(alice.token, p, 1);
          await gql(CANCEL, { id }, alice.token);
          expect((await stream.next<OrderEvent>()).data?.orderStatusChanged).toMatchObject({
            id,
            status: "CANCELLED",
            account: { name: "Alice Subscriber" },
          });
        } finally {
          stream.close();
          await extra.kill();
        }
      }, 90_000);

      test("a module instance stopping ends its subscriptions with SUBGRAPH_UNAVAILABLE (reconnect); subscribing again reaches another instance; a killed one is detected by heartbeats", async () => {
        const split = (t as Topology & { split: SplitTopology }).split;
        const first = split.processes.find((p) => p.name === "order" && p.server.proc.exitCode === null);
        if (!first) throw new Error("no order process");
        const p = fresh();
        // Opened while `order` is the only instance: it serves this subscription.
        const stream = await sse(url, WATCH_ORDERS, {}, alice.token);
        // spawn resolves once order-2 has started, i.e. serves its queue group's subjects.
        const second = await split.spawn("order", "order-2");
        // Graceful stop (SIGTERM): the subscription ends with a reconnectable error, then completes.
        await first.server.kill();
        const last = await stream.next();
        expect(last.errors?.[0]?.extensions).toMatchObject({ code: "SUBGRAPH_UNAVAILABLE", reconnect: true });
        await expect(stream.next(5000)).rejects.toThrow(/completed|ended/);

        // Subscribing again reaches order-2, which delivers.
        const again = await sse(url, WATCH_ORDERS, {}, alice.token);
        const id = await order(alice.token, p, 1);
        await gql(CANCEL, { id }, alice.token);
        expect((await again.next<OrderEvent>()).data?.orderStatusChanged).toMatchObject({
          id,
          status: "CANCELLED",
          account: { name: "Alice Subscriber" },
        });

        // A crash (SIGKILL, no goodbye): the gateway notices the silence after 3 heartbeats.
        second.server.proc.kill("SIGKILL");
        const lost = await again.next(30_000);
        expect(lost.errors?.[0]?.extensions).toMatchObject({ code: "SUBGRAPH_UNAVAILABLE", reconnect: true });
        again.close();
        // Put an order instance back for whatever runs next.
        await split.spawn("order", "order-3");
      }, 120_000);
    }

    // Last: it stops the topology (afterAll then has nothing to stop).
    test("gateway shutdown ends open SSE and WebSocket subscriptions with GATEWAY_SHUTTING_DOWN (reconnect)", async () => {
      const p = fresh();
      const stream = await sse(url, WATCH_STOCK, { productId: p.id });
      const ws = wsClient(url);
      const wsSub = wsSubscribe<{ productStockChanged: { id: string } }>(ws, WATCH_STOCK, { productId: p.id });
      // Wait until the WebSocket subscription is live: it sees a stock change.
      await eventually(
        "the WebSocket subscription to see a change",
        async () => {
          if (wsSub.results.length > 0) return true;
          const id = await order(alice.token, p, 1);
          await gql(CANCEL, { id }, alice.token);
          return false;
        },
        { timeoutMs: 20_000, intervalMs: 200 },
      ).catch(() => {}); // asserted below
      expect(wsSub.results.length).toBeGreaterThan(0);
      while (stream.pending().length > 0) await stream.next();
      stopped = true;
      await t.stop();
      const last = await stream.next();
      expect(last.errors?.[0]?.extensions).toMatchObject({ code: "GATEWAY_SHUTTING_DOWN", reconnect: true });
      await expect(stream.next(5000)).rejects.toThrow(/completed|ended/);
      expect(await wsSub.done).toEqual({});
      expect(wsSub.results.at(-1)?.errors?.[0]?.extensions).toMatchObject({ code: "GATEWAY_SHUTTING_DOWN", reconnect: true });
      await ws.dispose();
    }, 60_000);
  });
}
