import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "nats";
import { startSplit, type SplitTopology } from "../../scripts/split-topology.ts";
import { MODULES } from "../../src/module-list.ts";
import { adminAuth } from "../helpers/admin.ts";
import { client, postGraphql } from "../helpers/client.ts";
import { freshPostgresDatabase, openProbe, usePostgres, WITH_POSTGRES, type DbProbe } from "../helpers/databases.ts";
import { eventually } from "../helpers/eventually.ts";
import { freePort } from "../helpers/ports.ts";
import { spawnChild, waitHttpOk, type Child } from "../helpers/process.ts";
import { E2E_ENV, PER_IP_LIMITS_OFF, ROOT, selectedTopologies } from "../helpers/topology.ts";
import { allProducts, CREATE_ORDER, LOGIN, newAccount, PAY_ORDER, type ProductNode } from "./flows.ts";

/**
 * The journey of docs/switching-modes.md, end to end (issue 12): a monolith on SQLite takes
 * real traffic, its data moves with `switchyard data copy` to PostgreSQL, the split topology
 * serves it with the same JWT_SECRET, and the data moves back to SQLite for a monolith again.
 *
 * What is left unfinished at the move is produced deterministically with the binary's own fault
 * point: the second monolith run has `FAULT_INJECT=outbox.after_commit:order.status_changed`, so
 * it dies by SIGKILL right after the checkout saga of order P1 committed PAID, with that
 * order.status_changed row unsent in the outbox and the saga at MARK_PAID (not DONE). Order P2's
 * saga waits meanwhile for a provider that never answers (`tok_timeout`, provider timeout 2 min):
 * its payment is PENDING and the saga at AUTHORIZE when the process dies. On the split, both
 * sagas resume (P1 completes as SUCCEEDED; P2 compensates: payment VOIDED, stock released, order
 * PAYMENT_FAILED), and the outbox rows the monolith left unsent are published once each on
 * JetStream (the catalog then commits P1's reservation), while rows it had sent are not
 * published again.
 *
 * Without the copy tool, or with one that loses a table, a timestamp or the outbox, the reads
 * after each move differ, the logins fail, or the sagas and events never complete.
 */

const enabled = WITH_POSTGRES && selectedTopologies().includes("split");
const BUN = process.execPath;
const MAIN = join(ROOT, "src/main.ts");
const JWT_SECRET = "journey-secret-journey-secret-journey-0123456789";
const PASSWORD = "correct horse battery staple";
/**
 * Reads must show the committed state at once: the gateway's response cache is off here (its
 * invalidation by catalog events is asynchronous, and tests/e2e/caching.e2e.test.ts covers it).
 */
const NO_CACHE = { RESPONSE_CACHE: "false" };

usePostgres();

/** Every field of an order a customer can read, payment included. */
const MY_ORDERS = `query {
  me { id email name orders {
    id status createdAt
    total { amount cents currency }
    items { quantity unitPrice { cents currency } lineTotal { cents } product { id name } }
    payment { id status amount { cents currency } providerReference chargeRequired failureReason createdAt updatedAt }
  } }
}`;

interface OrderView {
  id: string;
  status: string;
  total: { amount: string; cents: number; currency: string };
  items: { quantity: number; product: { id: string } }[];
  payment: { status: string; amount: { cents: number } } | null;
}
interface MeView {
  me: { id: string; email: string; name: string; orders: OrderView[] };
}
interface Account {
  email: string;
  id: string;
  token: string;
}
interface Reservation {
  id: string;
  status: string;
  items: string;
}
/** What the shop shows, read through the gateway: every account's orders and the product list. */
interface Reads {
  orders: Record<string, MeView>;
  products: ProductNode[];
  /**
   * Ids the full-text search finds for a word of the renamed product and one of a description,
   * sorted (the ranking differs between SQLite and PostgreSQL): the search index is derived,
   * rebuilt on the target rather than copied.
   */
  found: string[];
}

/** A monolith process (MODULES=all, memory bus) on `dataDir`, with the e2e suite's production-like settings. */
async function startMonolithOn(dataDir: string, env: Record<string, string> = {}): Promise<{ child: Child; url: string }> {
  const port = await freePort();
  const child = spawnChild([BUN, MAIN], {
    MODULES: "all",
    PORT: String(port),
    OPS_PORT: String(await freePort()),
    DATA_DIR: dataDir,
    LOG_LEVEL: "info",
    JWT_SECRET,
    ...PER_IP_LIMITS_OFF,
    ...E2E_ENV,
    ...NO_CACHE,
    ...env,
  });
  await waitHttpOk(child, `http://127.0.0.1:${port}/health/ready`);
  return { child, url: `http://127.0.0.1:${port}/graphql` };
}

/** Runs `switchyard data <args>` from source; resolves with its exit code and output. */
async function data(...args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawnChild([BUN, MAIN, "data", ...args, ...(args[0] === "copy" ? ["--progress", "lines"] : [])], { LOG_LEVEL: "warn" });
  const code = await child.proc.exited;
  await child.ended();
  return { code, output: child.output() };
}

const sqlite = (dir: string, module: string): DbProbe => openProbe({ kind: "sqlite", path: join(dir, `${module}.sqlite`) });
/** A module's schema in the shared PostgreSQL database, as DATABASE_URL maps it (src/kernel/storage/resolve.ts). */
const pg = (url: string, module: string): DbProbe => {
  const u = new URL(url);
  u.searchParams.set("search_path", module);
  return openProbe({ kind: "postgres", url: u.toString(), poolMax: 2 });
};

/** Runs `fn` on a probe and closes it. */
async function withProbe<T>(probe: DbProbe, fn: (p: DbProbe) => Promise<T>): Promise<T> {
  try {
    return await fn(probe);
  } finally {
    await probe.close();
  }
}

const reservationsOf = (p: DbProbe): Promise<Reservation[]> =>
  p.all<Reservation>(
    `SELECT r.id, r.status, (SELECT string_agg(i.product_id || 'x' || i.quantity || '@' || i.unit_price_cents, ',' ORDER BY i.position)
       FROM reservation_items i WHERE i.reservation_id = r.id) AS items FROM reservations r ORDER BY r.id`,
  );
/** SQLite spells string_agg group_concat (ordered by the subquery). */
const reservationsOfSqlite = (p: DbProbe): Promise<Reservation[]> =>
  p.all<Reservation>(
    `SELECT r.id, r.status, (SELECT group_concat(x, ',') FROM (SELECT i.product_id || 'x' || i.quantity || '@' || i.unit_price_cents AS x
       FROM reservation_items i WHERE i.reservation_id = r.id ORDER BY i.position)) AS items FROM reservations r ORDER BY r.id`,
  );

/** Logs every account in with its password (the hash moved with the data), returning fresh tokens. */
async function loginAll(url: string, accounts: readonly Account[]): Promise<Record<string, string>> {
  const tokens: Record<string, string> = {};
  for (const a of accounts) {
    const r = await client(url).request<{ login: { token: string; account: { id: string } } }>(LOGIN, {
      email: a.email,
      password: PASSWORD,
    });
    expect(r.login.account.id).toBe(a.id);
    tokens[a.id] = r.login.token;
  }
  return tokens;
}

async function readAll(url: string, tokens: Record<string, string>): Promise<Reads> {
  const orders: Record<string, MeView> = {};
  for (const [id, token] of Object.entries(tokens)) orders[id] = await client(url, token).request<MeView>(MY_ORDERS);
  const found: string[] = [];
  for (const q of ["hammer pro", "made for the journey"]) {
    const r = await client(url).request<{ products: { edges: { node: { id: string } }[] } }>(
      `query($q: String!) { products(search: $q, first: 50) { edges { node { id } } } }`,
      { q },
    );
    found.push(
      `${q}: ${r.products.edges
        .map((e) => e.node.id)
        .sort()
        .join(",")}`,
    );
  }
  return { orders, products: await allProducts(url), found };
}

const stockOf = (products: readonly ProductNode[]): Map<string, number> => new Map(products.map((p) => [p.id, p.stock]));

describe.skipIf(!enabled)("switching modes with the data: monolith (SQLite) → split (PostgreSQL) → monolith", () => {
  const dirs: string[] = [];
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), "switchyard-journey-"));
    dirs.push(d);
    return d;
  };
  const monolithDir = tempDir();
  let databaseUrl = "";
  let split: SplitTopology | undefined;
  let running: Child | undefined;
  const accounts: Account[] = [];
  /** Orders whose saga is unfinished when the monolith dies: P1 at MARK_PAID, P2 at AUTHORIZE. */
  let p1: OrderView;
  let p2: OrderView;
  /** Reads through the monolith right before P1 and P2 were paid. */
  let beforeMove: Reads;
  let reservationsAtStop: Reservation[] = [];
  /** Outbox rows at the stop: unsent (`eventId → module`) and sent. */
  const unsent = new Map<string, string>();
  const sent = new Set<string>();
  /** Event id of P1's order.status_changed PAID, the row the fault left unsent. */
  let paidEventId = "";
  /** Reads through the split once everything settled: what the reverse move must keep. */
  let onSplit: Reads;
  let reservationsOnSplit: Reservation[] = [];

  afterAll(async () => {
    await running?.stop();
    await split?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }, 60_000);

  /** Unsent outbox rows per module and the reservation statuses of P1 and P2, on the split's PostgreSQL. */
  const settlementState = async (): Promise<{ unsent: Record<string, number>; p1?: string; p2?: string }> => {
    const unsent: Record<string, number> = {};
    for (const module of Object.keys(MODULES)) {
      const n = await withProbe(pg(databaseUrl, module), (db) =>
        db.get<{ n: number }>("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL"),
      );
      unsent[module] = Number(n?.n);
    }
    const rs = await withProbe(pg(databaseUrl, "catalog"), reservationsOf);
    return { unsent, p1: rs.find((r) => r.id === p1.id)?.status, p2: rs.find((r) => r.id === p2.id)?.status };
  };
  /** Rethrows a wait's failure with the split's warnings and errors, so a failure in CI says why. */
  const withSplitState = (err: unknown): never => {
    const lines = (split?.output() ?? "").split("\n").filter((l) => /"level":(40|50|60)|consumer|relay/.test(l));
    throw new Error(`${err instanceof Error ? err.message : String(err)}\nsplit warnings:\n${lines.slice(-40).join("\n")}`, { cause: err });
  };

  test("a monolith on SQLite takes accounts, catalog changes, orders and payments", async () => {
    const m = await startMonolithOn(monolithDir);
    running = m.child;
    const url = m.url;
    const admin = (await adminAuth({ jwtSecret: JWT_SECRET, graphqlUrl: url })).authorization.slice("Bearer ".length);
    const asAdmin = client(url, admin);

    for (const name of ["Ada Lovelace", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov"]) {
      const a = await newAccount(url, name);
      accounts.push({ email: a.email, id: a.id, token: a.token });
    }
    const [ada, grace, edsger, barbara] = accounts as [Account, Account, Account, Account];

    // Catalog changes: a category, two products, a price change after an order, a stock change.
    const { createCategory } = await asAdmin.request<{ createCategory: { id: string } }>(
      `mutation($name: String!) { createCategory(name: $name) { id } }`,
      { name: "Journey Tools" },
    );
    const create = async (name: string, priceCents: number, stock: number): Promise<string> =>
      (
        await asAdmin.request<{ createProduct: { id: string } }>(
          `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
          {
            input: { name, description: `${name}, made for the journey test`, priceCents, categoryId: createCategory.id, stock },
          },
        )
      ).createProduct.id;
    const hammer = await create("Journey Hammer", 1999, 40);
    const chisel = await create("Journey Chisel", 1250, 30);
    const seeded = (await allProducts(url)).filter((p) => p.stock >= 20 && !p.name.startsWith("Journey"));
    const [s1, s2, s3] = seeded.map((p) => p.id) as [string, string, string];

    const order = async (a: Account, items: [string, number][]): Promise<string> =>
      (
        await client(url, a.token).request<{ createOrder: { id: string } }>(CREATE_ORDER, {
          input: { items: items.map(([productId, quantity]) => ({ productId, quantity })) },
        })
      ).createOrder.id;
    const pay = (a: Account, orderId: string, token: string) => postGraphql(url, PAY_ORDER, { orderId, token }, a.token);

    const paidOld = await order(ada, [
      [hammer, 2],
      [s1, 1],
      [chisel, 3],
    ]);
    expect((await pay(ada, paidOld, "tok_visa")).body.errors).toBeUndefined();
    await asAdmin.request(`mutation($id: ID!, $input: UpdateProductInput!) { updateProduct(id: $id, input: $input) { id } }`, {
      id: hammer,
      input: { name: "Journey Hammer Pro", priceCents: 2499 },
    });
    const paidNew = await order(grace, [
      [hammer, 1],
      [s2, 2],
    ]);
    expect((await pay(grace, paidNew, "tok_visa")).body.errors).toBeUndefined();
    const declined = await order(grace, [
      [s3, 1],
      [chisel, 1],
    ]);
    const refused = await pay(grace, declined, "tok_chargeDeclined");
    expect(refused.body.errors?.[0]?.extensions?.code).toBe("PAYMENT_DECLINED");
    const cancelled = await order(edsger, [
      [s1, 2],
      [s2, 1],
    ]);
    await client(url, edsger.token).request(`mutation($id: ID!) { cancelOrder(id: $id) { id } }`, { id: cancelled });
    const shipped = await order(barbara, [
      [chisel, 2],
      [s3, 2],
    ]);
    expect((await pay(barbara, shipped, "tok_visa")).body.errors).toBeUndefined();
    await asAdmin.request(`mutation($id: ID!) { setOrderStatus(id: $id, status: SHIPPED) { id } }`, { id: shipped });
    await order(ada, [
      [s2, 1],
      [s3, 1],
    ]); // stays PENDING: its stock stays reserved
    await asAdmin.request(`mutation($id: ID!) { setStock(productId: $id, stock: 77) { id } }`, { id: chisel });

    // A clean stop (SIGTERM): the kernel drains and the relay publishes what it can.
    expect(await m.child.stop()).toBe(0);
    running = undefined;
  }, 120_000);

  test("a second run dies (SIGKILL) with two checkout sagas unfinished and an outbox row unsent", async () => {
    const m = await startMonolithOn(monolithDir, {
      FAULT_INJECT: "outbox.after_commit:order.status_changed",
      // tok_timeout: the provider never answers, so P2's payment stays PENDING until the process dies.
      PAYMENT_PROVIDER_TIMEOUT_MS: "120000",
    });
    running = m.child;
    const url = m.url;
    const [ada] = accounts as [Account];
    // Tokens of the first run still work (same JWT_SECRET, sessions in account.sqlite).
    const me = await client(url, ada.token).request<MeView>(MY_ORDERS);
    expect(me.me.orders).toHaveLength(2);
    const eve = await newAccount(url, "Eve Journey");
    accounts.push({ email: eve.email, id: eve.id, token: eve.token });
    const products = await allProducts(url);
    const hammer = products.find((p) => p.name === "Journey Hammer Pro") as ProductNode;
    const [s1, s2] = products.filter((p) => p.stock >= 20 && !p.name.startsWith("Journey")) as [ProductNode, ProductNode];
    const create = async (token: string, items: [ProductNode, number][]): Promise<OrderView> => {
      const { createOrder } = await client(url, token).request<{ createOrder: { id: string } }>(CREATE_ORDER, {
        input: { items: items.map(([p, quantity]) => ({ productId: p.id, quantity })) },
      });
      const all = await client(url, token).request<MeView>(MY_ORDERS);
      return all.me.orders.find((o) => o.id === createOrder.id) as OrderView;
    };
    p2 = await create(eve.token, [
      [s1, 3],
      [hammer, 1],
    ]);
    p1 = await create(ada.token, [
      [s2, 2],
      [hammer, 2],
    ]);
    beforeMove = await readAll(url, await loginAll(url, accounts));
    // The renamed hammer by its new name; both products of the journey by their description.
    expect(beforeMove.found.map((f) => f.split(": ")[1]?.split(",").length)).toEqual([1, 2]);

    // P2: the saga waits at AUTHORIZE for a provider that never answers.
    const p2Pay = postGraphql(url, PAY_ORDER, { orderId: p2.id, token: "tok_timeout" }, eve.token).catch((err: unknown) => err);
    await withProbe(sqlite(monolithDir, "payment"), async (payment) =>
      withProbe(sqlite(monolithDir, "order"), async (orderDb) => {
        await eventually(
          "P2's payment PENDING and its saga at AUTHORIZE",
          async () =>
            (await payment.get<{ status: string }>("SELECT status FROM payments WHERE order_id = ?", p2.id))?.status === "PENDING" &&
            (await orderDb.get<{ step: string }>("SELECT step FROM payment_sagas WHERE order_id = ?", p2.id))?.step === "AUTHORIZE",
          { timeoutMs: 10_000 },
        );
      }),
    );
    // P1: authorized and captured; MARK_PAID commits PAID with its event, and the process dies before publishing it.
    const p1Pay = await postGraphql(url, PAY_ORDER, { orderId: p1.id, token: "tok_visa" }, ada.token).catch((err: unknown) => err);
    expect(p1Pay).toBeInstanceOf(Error);
    await m.child.proc.exited;
    expect(m.child.proc.signalCode).toBe("SIGKILL");
    await p2Pay;
    running = undefined;

    // What the copy must carry: read from the SQLite files the dead process left.
    await withProbe(sqlite(monolithDir, "order"), async (orderDb) => {
      const sagas = await orderDb.all<{ order_id: string; step: string; status: string }>(
        "SELECT order_id, step, status FROM payment_sagas WHERE step <> 'DONE' ORDER BY order_id",
      );
      expect(sagas).toEqual(
        [
          { order_id: p1.id, step: "MARK_PAID", status: "RUNNING" },
          { order_id: p2.id, step: "AUTHORIZE", status: "RUNNING" },
        ].sort((a, b) => (a.order_id < b.order_id ? -1 : 1)),
      );
      const paid = await orderDb.all<{ payload: string }>(
        "SELECT payload FROM outbox WHERE sent_at IS NULL AND subject = 'order.status_changed'",
      );
      const events = paid.map((r) => JSON.parse(r.payload) as { eventId: string; orderId: string; status: string });
      expect(events).toEqual([expect.objectContaining({ orderId: p1.id, status: "PAID" })]);
      paidEventId = events[0]?.eventId ?? "";
    });
    for (const module of Object.keys(MODULES)) {
      await withProbe(sqlite(monolithDir, module), async (db) => {
        for (const r of await db.all<{ event_id: string; sent: number }>("SELECT event_id, sent_at IS NOT NULL AS sent FROM outbox")) {
          if (r.sent) sent.add(r.event_id);
          else unsent.set(r.event_id, module);
        }
      });
    }
    expect(unsent.size).toBeGreaterThan(0);
    expect(sent.size).toBeGreaterThan(0);
    reservationsAtStop = await withProbe(sqlite(monolithDir, "catalog"), reservationsOfSqlite);
    expect(reservationsAtStop.find((r) => r.id === p1.id)?.status).toBe("held");
  }, 120_000);

  test("data copy moves it to PostgreSQL and verifies", async () => {
    databaseUrl = await freshPostgresDatabase();
    const copied = await data("copy", "--from", monolithDir, "--to", databaseUrl);
    if (copied.code !== 0) throw new Error(`data copy exited ${copied.code}:\n${copied.output}`);
    // One verification line per table, the unsent outbox row and the unfinished sagas among them.
    expect(copied.output).toMatch(/order\s+outbox\s+\d+\s+\d+\s+match/);
    expect(copied.output).toMatch(/order\s+payment_sagas\s+\d+\s+\d+\s+match/);
    const verified = await data("verify", "--from", monolithDir, "--to", databaseUrl);
    if (verified.code !== 0) throw new Error(`data verify exited ${verified.code}:\n${verified.output}`);
  }, 120_000);

  test("the split topology on that PostgreSQL serves the same shop and finishes what the monolith left", async () => {
    split = await startSplit({
      databaseUrl,
      env: { ...PER_IP_LIMITS_OFF, ...E2E_ENV, ...NO_CACHE, JWT_SECRET, PAYMENT_PROVIDER_TIMEOUT_MS: "1000", OUTBOX_POLL_MS: "200" },
    });
    const url = split.graphqlUrl;
    // A token the monolith issued is accepted (same secret, its session moved with the data).
    const ada = accounts[0] as Account;
    expect((await client(url, ada.token).request<MeView>(MY_ORDERS)).me.id).toBe(ada.id);
    const tokens = await loginAll(url, accounts);

    // The pending sagas complete: P1 as paid, P2 compensated (its provider never answered).
    await withProbe(pg(databaseUrl, "order"), async (orderDb) => {
      await eventually(
        "both unfinished sagas DONE",
        async () => {
          const rows = await orderDb.all<{ order_id: string; status: string }>(
            "SELECT order_id, status FROM payment_sagas WHERE order_id IN (?, ?) AND step = 'DONE'",
            p1.id,
            p2.id,
          );
          return rows.length === 2 && Object.fromEntries(rows.map((r) => [r.order_id, r.status]));
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      )
        .catch(withSplitState)
        .then((done) => expect(done).toEqual({ [p1.id]: "SUCCEEDED", [p2.id]: "FAILED" }));
    });
    // Every outbox drained, and the catalog consumed P1's PAID (committed) and P2's failure (released).
    // Bounded by more than JetStream's ack wait (30 s): an event delivered to a consumer that went
    // away unacked comes back only after it, which is late but not lost.
    await eventually(
      "outboxes drained and reservations settled",
      async () => {
        const state = await settlementState();
        const drained = Object.values(state.unsent).every((n) => n === 0);
        return (drained && state.p1 === "committed" && state.p2 === "released") || Promise.reject(new Error(JSON.stringify(state)));
      },
      { timeoutMs: 75_000, intervalMs: 200 },
    ).catch(withSplitState);

    // Each event the monolith left unsent is on JetStream exactly once; none it had sent is there.
    const published = new Map<string, number>();
    const nc = await connect({ servers: split.nats.url, user: split.natsOps.user, pass: split.natsOps.pass });
    try {
      const jsm = await nc.jetstreamManager();
      for await (const info of jsm.streams.list()) {
        for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
          const msg = await jsm.streams.getMessage(info.config.name, { seq }).catch(() => undefined);
          const id = msg?.json<{ eventId?: string }>().eventId;
          if (id) published.set(id, (published.get(id) ?? 0) + 1);
        }
      }
    } finally {
      await nc.close();
    }
    for (const [id, module] of unsent) expect({ id, module, times: published.get(id) ?? 0 }).toEqual({ id, module, times: 1 });
    expect([...sent].filter((id) => published.has(id))).toEqual([]);
    await withProbe(pg(databaseUrl, "catalog"), async (catalog) => {
      const inbox = await catalog.get<{ n: number }>("SELECT count(*) AS n FROM inbox WHERE event_id = ?", paidEventId);
      expect(Number(inbox?.n)).toBe(1);
    });

    // Reads: every order as before, but P1 (now PAID, payment CAPTURED) and P2 (PAYMENT_FAILED, payment VOIDED).
    onSplit = await readAll(url, tokens);
    for (const [accountId, view] of Object.entries(onSplit.orders)) {
      const before = beforeMove.orders[accountId] as MeView;
      expect(view.me.orders.map((o) => o.id)).toEqual(before.me.orders.map((o) => o.id));
      for (const o of view.me.orders) {
        const was = before.me.orders.find((b) => b.id === o.id) as OrderView;
        if (o.id === p1.id) {
          expect({ status: o.status, payment: o.payment?.status, paid: o.payment?.amount.cents }).toEqual({
            status: "PAID",
            payment: "CAPTURED",
            paid: was.total.cents,
          });
          expect<OrderView>({ ...o, status: was.status, payment: null }).toEqual(was);
        } else if (o.id === p2.id) {
          expect({ status: o.status, payment: o.payment?.status }).toEqual({ status: "PAYMENT_FAILED", payment: "VOIDED" });
          expect<OrderView>({ ...o, status: was.status, payment: null }).toEqual(was);
        } else expect(o).toEqual(was);
      }
      expect({ ...view.me, orders: [] }).toEqual({ ...before.me, orders: [] });
    }
    // Stock: as before the move, plus P2's units given back by its compensation.
    const expectedStock = stockOf(beforeMove.products);
    for (const i of p2.items) expectedStock.set(i.product.id, (expectedStock.get(i.product.id) ?? 0) + i.quantity);
    expect(stockOf(onSplit.products)).toEqual(expectedStock);
    expect(onSplit.products.map((p) => ({ ...p, stock: 0 }))).toEqual(beforeMove.products.map((p) => ({ ...p, stock: 0 })));
    expect(onSplit.found).toEqual(beforeMove.found);
    // Reservations: the same rows and items; only P1 (committed) and P2 (released) moved on.
    reservationsOnSplit = await withProbe(pg(databaseUrl, "catalog"), reservationsOf);
    const status = (id: string, s: string): string => (id === p1.id ? "committed" : id === p2.id ? "released" : s);
    expect(reservationsOnSplit).toEqual(reservationsAtStop.map((r) => ({ ...r, status: status(r.id, r.status) })));

    await split.stop();
    split = undefined;
  }, 240_000);

  test("the reverse move (PostgreSQL → SQLite) gives a monolith the same shop", async () => {
    // The split wrote (P1 and P2 settled, events published): the monolith's files are now stale, and verify says so.
    const stale = await data("verify", "--from", monolithDir, "--to", databaseUrl);
    expect({ code: stale.code, output: stale.output }).toEqual({ code: 3, output: expect.stringContaining("payment_sagas") });
    const back = tempDir();
    const copied = await data("copy", "--from", databaseUrl, "--to", back);
    if (copied.code !== 0) throw new Error(`data copy exited ${copied.code}:\n${copied.output}`);
    const m = await startMonolithOn(back);
    running = m.child;
    const reads = await readAll(m.url, await loginAll(m.url, accounts));
    expect(reads).toEqual(onSplit);
    expect(await withProbe(sqlite(back, "catalog"), reservationsOfSqlite)).toEqual(reservationsOnSplit);
    expect(await m.child.stop()).toBe(0);
    running = undefined;
  }, 120_000);
});
