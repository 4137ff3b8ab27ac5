import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import fc from "fast-check";
import { buildSchema, type GraphQLSchema } from "graphql";
import { composeSupergraph } from "../../src/gateway/federation/compose.ts";
import { fetchSubgraphSdl } from "../../src/gateway/federation/fetch-sdl.ts";
import { MODULES } from "../../src/module-list.ts";
import { startInProcess, type InProcessGateway } from "../gateway/harness.ts";
import {
  checkResponse,
  fieldOperation,
  hostileDocument,
  orderCommand,
  rawRequest,
  resolveIds,
  wsSession,
  type IdRef,
  type OrderCommand,
} from "../helpers/hostile.ts";
import { eventually } from "../helpers/eventually.ts";

/**
 * Hostile input, property-based (fast-check), against a running monolith: every module and the
 * gateway in this process, over real HTTP on 127.0.0.1, configured as in production (errors
 * masked, introspection and GraphiQL off, default limits), rate limiting off so the budget does
 * not end the run. Asserted after every request: no 5xx, every error has an `extensions.code`
 * (none `INTERNAL_SERVER_ERROR`), nothing of an exception leaks. After each property: the process
 * answers `/health/live`. At the end: RSS grew by less than {@link RSS_GROWTH_MAX_BYTES}, and for
 * every product, stock = its baseline − units of its PENDING, PAID and SHIPPED orders.
 *
 * Reproducible: a fixed seed (`HOSTILE_SEED` overrides it) and bounded runs (`HOSTILE_RUNS`
 * scales them); a failure prints the seed, the counterexample and the response.
 */
// Property runs on a loaded 2-core machine: each property stays well under this.
setDefaultTimeout(60_000);

const SEED = Number(process.env["HOSTILE_SEED"] ?? 20_261_204);
const SCALE = Number(process.env["HOSTILE_RUNS"] ?? 1);
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));
/**
 * Bound on the RSS growth of this process (gateway, modules and the test client together) over
 * the whole suite, bytes. Generous: the operation caches, the response cache and SQLite's page
 * caches fill up legitimately (a few tens of MB); an unbounded structure keyed by hostile input
 * grows by far more over the run's requests.
 */
const RSS_GROWTH_MAX_BYTES = 256 * 1024 * 1024;
const ADMIN = { email: "admin.hostile@example.com", password: "hostile admin password" };
const CUSTOMER = { email: "customer.hostile@example.com", password: "hostile customer pw" };
/** Fields that end the session of the token they are sent with: sent with a fresh login's token. */
const SESSION_ENDING = new Set(["logout"]);
/** Order statuses whose units are out of stock (reserved or sold). */
const HOLDING = new Set(["PENDING", "PAID", "SHIPPED"]);

const params = (n: number): fc.Parameters<unknown> => ({ seed: SEED, numRuns: runs(n), endOnFailure: true });

/** Runs the property; a failure names the seed, the path, the counterexample and the error, each cut to a readable length. */
async function check<T>(name: string, arb: fc.Arbitrary<T>, n: number, body: (v: T) => Promise<void>): Promise<void> {
  const out = await fc.check(fc.asyncProperty(arb, body), params(n) as fc.Parameters<[T]>);
  if (!out.failed) return;
  const example = fc.stringify(out.counterexample);
  const error = out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance);
  throw new Error(
    `hostile property "${name}" failed after ${out.numRuns} runs (seed ${out.seed}, path "${out.counterexamplePath}"; rerun with HOSTILE_SEED=${SEED}):\n` +
      `counterexample: ${example.length > 1500 ? `${example.slice(0, 1500)}… (${example.length} characters)` : example}\n` +
      `error: ${error.slice(0, 3000)}`,
  );
}

describe("hostile input (property-based, production-configured in-process monolith)", () => {
  let gw: InProcessGateway;
  let base: string;
  let schema: GraphQLSchema;
  const tokens: Record<"customer" | "admin", string> = { customer: "", admin: "" };
  const pools: Record<IdRef["$id"], string[]> = { Product: [], Category: [], Order: [], Account: [] };
  /** Stock each product would have with no order holding units (initial, or as set by setStock). */
  const baseline = new Map<string, number>();
  const ownAccounts = new Set<string>();
  /** A token of a new session of `as` (login), for operations that end the session they are sent with. */
  const freshToken = async (as: "customer" | "admin"): Promise<string> => {
    const creds = as === "admin" ? ADMIN : CUSTOMER;
    const r = await gw.gql<{ login: { token: string } }>(
      `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`,
      { e: creds.email, p: creds.password },
    );
    return r.data?.login.token as string;
  };
  let rssBefore = 0;

  /** Fresh product stock, never from the response cache (`me` makes a response uncacheable). */
  const stockNow = async (): Promise<Map<string, number>> => {
    const stock = new Map<string, number>();
    let after: string | null = null;
    for (;;) {
      const r: {
        data?: {
          products: { edges: { node: { id: string; stock: number } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
        };
      } = await gw.gql(
        `query($after: String) { me { id } products(first: 100, after: $after) { edges { node { id stock } } pageInfo { hasNextPage endCursor } } }`,
        { after },
        tokens.admin,
      );
      for (const e of r.data?.products.edges ?? []) stock.set(e.node.id, e.node.stock);
      if (!r.data?.products.pageInfo.hasNextPage) return stock;
      after = r.data.products.pageInfo.endCursor;
    }
  };
  /** Units held per product by the orders of the two accounts that can order (customer, admin). */
  const heldNow = async (): Promise<Map<string, number>> => {
    const held = new Map<string, number>();
    for (const token of [tokens.customer, tokens.admin]) {
      const r = await gw.gql<{ me: { orders: { status: string; items: { quantity: number; product: { id: string } }[] }[] } }>(
        `{ me { orders { status items { quantity product { id } } } } }`,
        {},
        token,
      );
      expect(r.errors).toBeUndefined();
      for (const o of r.data?.me.orders ?? []) {
        if (!HOLDING.has(o.status)) continue;
        for (const it of o.items) held.set(it.product.id, (held.get(it.product.id) ?? 0) + it.quantity);
      }
    }
    return held;
  };
  /** Adds every `{ __typename, id }` of `data` to the id pools. */
  const collectIds = (data: unknown): void => {
    if (Array.isArray(data)) {
      for (const d of data) collectIds(d);
      return;
    }
    if (data === null || typeof data !== "object") return;
    const o = data as Record<string, unknown>;
    const type = o["__typename"];
    if (typeof type === "string" && typeof o["id"] === "string" && type in pools && !ownAccounts.has(o["id"])) {
      const pool = pools[type as IdRef["$id"]];
      if (!pool.includes(o["id"]) && pool.length < 500) pool.push(o["id"]);
    }
    Object.values(o).forEach(collectIds);
  };
  const expectAlive = async (): Promise<void> => {
    const live = await fetch(`${base}/health/live`, { signal: AbortSignal.timeout(5_000) });
    expect(live.status).toBe(200);
  };

  beforeAll(async () => {
    gw = await startInProcess({
      nodeEnv: "production",
      graphiql: false,
      introspection: false,
      subgraphTimings: false,
      rateLimitMax: 0,
      adminEmail: ADMIN.email,
      adminPassword: ADMIN.password,
    });
    base = gw.url.replace(/\/graphql$/, "");
    const sdls = await Promise.all(Object.keys(MODULES).map(async (name) => ({ name, sdl: await fetchSubgraphSdl(gw.bus, name, 10_000) })));
    const composed = composeSupergraph(sdls);
    if (!composed.ok) throw new Error(`composition failed: ${JSON.stringify(composed.errors)}`);
    schema = buildSchema(composed.supergraphSdl, { assumeValidSDL: true });

    const login = await gw.gql<{ login: { token: string } }>(
      `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`,
      { e: ADMIN.email, p: ADMIN.password },
    );
    tokens.admin = login.data?.login.token as string;
    const reg = await gw.gql<{ register: { token: string } }>(`mutation($i: RegisterInput!) { register(input: $i) { token } }`, {
      i: { name: "Hostile Customer", ...CUSTOMER },
    });
    tokens.customer = reg.data?.register.token as string;
    expect(tokens.admin && tokens.customer).toBeTruthy();
    // The suite's own accounts never go into the id pools: a random disableAccount must not lock the suite out.
    for (const token of [tokens.admin, tokens.customer]) {
      const me = await gw.gql<{ me: { id: string } }>("{ me { id } }", {}, token);
      ownAccounts.add(me.data?.me.id as string);
    }

    const cats = await gw.gql(`{ categories { __typename id products(first: 100) { edges { node { __typename id } } } } }`);
    collectIds(cats.data);
    for (const [id, stock] of await stockNow()) baseline.set(id, stock);
    expect(baseline.size).toBeGreaterThan(10);
    console.log(`hostile suite: seed ${SEED}, runs x${SCALE}, ${baseline.size} products`);
    Bun.gc(true);
    rssBefore = process.memoryUsage().rss;
  }, 60_000);
  afterAll(async () => {
    await gw?.stop();
  }, 60_000);

  test("raw requests: random bytes, broken JSON, non-request JSON, odd methods, media types and Accept headers", async () => {
    await check("raw requests", rawRequest, 250, async (r) => {
      const res = await fetch(`${gw.url}${r.search ?? ""}`, {
        method: r.method,
        headers: r.headers,
        ...(r.body !== undefined ? { body: r.body } : {}),
        signal: AbortSignal.timeout(20_000),
      });
      await checkResponse(
        res,
        `${r.method} ${JSON.stringify(r.headers)} ${r.search ?? ""} ${typeof r.body === "string" ? r.body.slice(0, 300) : `${r.body?.length ?? 0} bytes`}`,
      );
    });
    await expectAlive();
  });

  test("hostile documents: deep, wide, alias bombs, fragment cycles and fan-out, directive floods, token soup", async () => {
    const arb = fc.record({
      query: hostileDocument,
      accept: fc.constantFrom("application/json", "application/graphql-response+json", "*/*"),
      as: fc.constantFrom("anonymous", "admin"),
    });
    await check("documents", arb, 200, async ({ query, accept, as }) => {
      const res = await fetch(gw.url, {
        method: "POST",
        headers: { "content-type": "application/json", accept, ...(as === "admin" ? { authorization: `Bearer ${tokens.admin}` } : {}) },
        body: JSON.stringify({ query }),
        signal: AbortSignal.timeout(20_000),
      });
      await checkResponse(res, `${as} ${accept} ${query.slice(0, 500)}`);
    });
    await expectAlive();
  });

  test("every public field with random arguments of the right and wrong types, as anonymous, customer and admin", async () => {
    const ran = new Map<string, number>();
    await check("fields", fieldOperation(schema), 200, async (op) => {
      const variables = resolveIds(op.variables, pools) as Record<string, unknown>;
      const token = op.as === "anonymous" ? undefined : SESSION_ENDING.has(op.field) ? await freshToken(op.as) : tokens[op.as];
      const res = await fetch(gw.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: op.kind === "subscription" ? "text/event-stream" : "application/graphql-response+json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query: op.query, variables }),
        signal: AbortSignal.timeout(20_000),
      });
      const checked = await checkResponse(res, `${op.as}: ${op.query} ${JSON.stringify(variables).slice(0, 1500)}`);
      collectIds(checked.data);
      const data = checked.data as Record<string, { id?: string; stock?: number } | null> | undefined;
      if (data?.[op.field]) ran.set(`${op.field}`, (ran.get(op.field) ?? 0) + 1);
      // Stock changed outside orders: a new baseline for that product (nothing else runs meanwhile).
      const product = op.field === "setStock" || op.field === "createProduct" ? data?.[op.field] : undefined;
      if (product?.id !== undefined && typeof product.stock === "number") {
        baseline.set(product.id, product.stock + ((await heldNow()).get(product.id) ?? 0));
      }
    });
    console.log(`hostile suite: operations that returned data, by field: ${[...ran].map(([f, n]) => `${f} ${n}`).join(", ")}`);
    // The generators reach past validation: operations really ran.
    expect([...ran.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(5);
    await expectAlive();
  });

  test("ordering under hostile values and races: orders, payments, cancellations, status and stock changes", async () => {
    // A few products the commands fight over (index p of the command), fixed for the whole run.
    const contested = pools.Product.slice(0, 8);
    const product = (p: number): string => contested[p % contested.length] as string;
    const order = (o: number): string => (pools.Order.length ? (pools.Order[o % pools.Order.length] as string) : "no-order-yet");
    const ORDER_FIELDS = "__typename id status items { quantity product { __typename id } }";
    const send = async (query: string, variables: Record<string, unknown>, as: "customer" | "admin", what: string) => {
      const res = await fetch(gw.url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/graphql-response+json", authorization: `Bearer ${tokens[as]}` },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(20_000),
      });
      const checked = await checkResponse(res, `${as}: ${what} ${JSON.stringify(variables)}`);
      collectIds(checked.data);
      return checked;
    };
    const run = async (c: OrderCommand): Promise<void> => {
      switch (c.k) {
        case "create": {
          const input = { items: c.items.map((it) => ({ productId: product(it.p), quantity: it.q })) };
          await Promise.all(
            Array.from({ length: c.parallel }, () =>
              send(
                `mutation($input: CreateOrderInput!) { createOrder(input: $input) { ${ORDER_FIELDS} } }`,
                { input },
                c.as,
                "createOrder",
              ),
            ),
          );
          return;
        }
        case "pay":
          await send(
            `mutation($id: ID!, $p: PaymentInput!) { payOrder(orderId: $id, payment: $p) { ${ORDER_FIELDS} } }`,
            { id: order(c.o), p: { token: c.token } },
            c.as,
            "payOrder",
          );
          return;
        case "cancel":
          await send(`mutation($id: ID!) { cancelOrder(id: $id) { ${ORDER_FIELDS} } }`, { id: order(c.o) }, c.as, "cancelOrder");
          return;
        case "status":
          await send(
            `mutation($id: ID!, $s: OrderStatus!) { setOrderStatus(id: $id, status: $s) { ${ORDER_FIELDS} } }`,
            { id: order(c.o), s: c.status },
            "admin",
            "setOrderStatus",
          );
          return;
        case "stock": {
          const r = await send(
            `mutation($id: ID!, $n: Int!) { setStock(productId: $id, stock: $n) { id stock } }`,
            { id: product(c.p), n: c.stock },
            "admin",
            "setStock",
          );
          const set = (r.data as { setStock?: { id: string; stock: number } | null } | undefined)?.setStock;
          if (set) baseline.set(set.id, set.stock + ((await heldNow()).get(set.id) ?? 0));
          return;
        }
      }
    };
    await check("ordering", fc.array(orderCommand, { minLength: 1, maxLength: 6 }), 80, async (commands) => {
      for (const c of commands) await run(c);
    });
    const placed = pools.Order.length;
    console.log(`hostile suite: ${placed} orders placed`);
    expect(placed).toBeGreaterThan(5);
    await expectAlive();
  });

  test("WebSocket (graphql-transport-ws): hostile subscribe payloads, junk frames, bad tokens", async () => {
    // Closes a client may get: normal, invalid message (4400), bad token (4403), duplicate id
    // (4409), a second connection_init (4429), message too big (1009). Never 4500 / 1011 (the
    // server failed).
    const FINE_CLOSES = new Set([1000, 1005, 1006, 1009, 4400, 4403, 4409, 4429]);
    await check("websocket", wsSession(schema), 60, async (session) => {
      const ws = new WebSocket(gw.url.replace("http", "ws"), "graphql-transport-ws");
      const received: string[] = [];
      let closeCode: number | undefined;
      const closed = new Promise<void>((resolve) => ws.addEventListener("close", (e) => ((closeCode = e.code), resolve())));
      ws.addEventListener("message", (e) => received.push(String(e.data)));
      await new Promise((resolve) => ws.addEventListener("open", resolve));
      const authorization =
        session.auth === "customer" ? `Bearer ${tokens.customer}` : session.auth === "garbage" ? "Bearer not.a.token" : undefined;
      ws.send(JSON.stringify({ type: "connection_init", ...(authorization ? { payload: { authorization } } : {}) }));
      // Operations before the ack are a protocol error (4401): wait for it (or the 4403 close).
      await eventually(
        "connection_ack or the close",
        () => ws.readyState !== WebSocket.OPEN || received.some((t) => t.includes("connection_ack")),
        { timeoutMs: 1000 },
      ).catch(() => {}); // what the socket does next is judged below
      session.messages.forEach((m, i) => {
        if (ws.readyState !== WebSocket.OPEN) return;
        ws.send(
          "raw" in m
            ? m.raw
            : JSON.stringify({
                type: "subscribe",
                id: `op${i}`,
                payload: { ...m.subscribe, variables: resolveIds(m.subscribe.variables, pools) },
              }),
        );
      });
      await Promise.race([closed, Bun.sleep(250)]);
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      await closed;
      const what = `${session.auth} ${JSON.stringify(session.messages).slice(0, 1500)}`;
      if (closeCode !== undefined && !FINE_CLOSES.has(closeCode))
        throw new Error(`socket closed with ${closeCode} for ${what}\nreceived: ${received.join("\n").slice(0, 1500)}`);
      for (const text of received) {
        const m = JSON.parse(text) as { type: string; payload?: unknown };
        const errors =
          m.type === "error"
            ? (m.payload as { extensions?: { code?: unknown } }[])
            : m.type === "next"
              ? ((m.payload as { errors?: { extensions?: { code?: unknown } }[] }).errors ?? [])
              : [];
        for (const e of errors) {
          const code = e.extensions?.code;
          if (typeof code !== "string" || code === "INTERNAL_SERVER_ERROR")
            throw new Error(`a WebSocket error coded ${String(code)} for ${what}\nmessage: ${text.slice(0, 1500)}`);
        }
      }
    });
    await expectAlive();
  });

  test("huge variables: large strings, long lists and deep objects up to and past MAX_BODY_BYTES", async () => {
    const arb = fc.record({
      size: fc.integer({ min: 10_000, max: 1_200_000 }),
      shape: fc.constantFrom("string", "list", "object", "items"),
    });
    await check("huge variables", arb, 10, async ({ size, shape }) => {
      const variables =
        shape === "string"
          ? { s: "\u0000é\uD800".repeat(Math.floor(size / 12)) }
          : shape === "list"
            ? { s: Array.from({ length: Math.floor(size / 4) }, (_, i) => i) }
            : shape === "object"
              ? { s: Object.fromEntries(Array.from({ length: Math.floor(size / 12) }, (_, i) => [`k${i}`, i])) }
              : { s: { items: Array.from({ length: Math.floor(size / 40) }, () => ({ productId: pools.Product[0], quantity: 1 })) } };
      const query =
        shape === "items"
          ? "mutation($s: CreateOrderInput!) { createOrder(input: $s) { id } }"
          : "query($s: String) { products(search: $s) { totalCount } }";
      const res = await fetch(gw.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/graphql-response+json",
          authorization: `Bearer ${tokens.customer}`,
        },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(30_000),
      });
      const checked = await checkResponse(res, `${shape} ${size}`);
      // Nothing of that size is ever accepted as an order.
      if (shape === "items") expect(checked.codes.length).toBeGreaterThan(0);
    });
    await expectAlive();
  });

  test("afterwards: the process is up, RSS is bounded, stock and orders agree", async () => {
    await expectAlive();
    Bun.gc(true);
    const growth = process.memoryUsage().rss - rssBefore;
    console.log(`hostile suite: RSS grew by ${(growth / 1024 / 1024).toFixed(1)} MiB (bound ${RSS_GROWTH_MAX_BYTES / 1024 / 1024} MiB)`);
    expect(growth).toBeLessThan(RSS_GROWTH_MAX_BYTES);

    // Payments and releases settle asynchronously (saga, events): allow a few seconds.
    let mismatches: { productId: string; stock: number; expected: number }[] = [];
    await eventually(
      "stock and held orders to agree",
      async () => {
        const [stock, held] = await Promise.all([stockNow(), heldNow()]);
        mismatches = [];
        for (const [productId, b] of baseline) {
          const expected = b - (held.get(productId) ?? 0);
          if (stock.get(productId) !== expected) mismatches.push({ productId, stock: stock.get(productId) ?? -1, expected });
        }
        return mismatches.length === 0;
      },
      { timeoutMs: 5000, intervalMs: 250 },
    ).catch(() => {}); // the report below lists the mismatches
    if (mismatches.length) {
      // What each mismatched product's orders look like, by status (for the failure report).
      const byStatus: Record<string, Record<string, number>> = {};
      for (const token of [tokens.customer, tokens.admin]) {
        const r = await gw.gql<{ me: { orders: { status: string; items: { quantity: number; product: { id: string } }[] }[] } }>(
          `{ me { orders { status items { quantity product { id } } } } }`,
          {},
          token,
        );
        for (const o of r.data?.me.orders ?? []) {
          for (const it of o.items) {
            const row = (byStatus[it.product.id] ??= {});
            row[o.status] = (row[o.status] ?? 0) + it.quantity;
          }
        }
      }
      console.log(JSON.stringify(mismatches.map((m) => ({ ...m, baseline: baseline.get(m.productId), units: byStatus[m.productId] }))));
    }
    expect(mismatches).toEqual([]);
  });
});
