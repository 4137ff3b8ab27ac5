import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serveJson } from "../../src/kernel/bus/rpc.ts";
import type { Bus, Headers, Msg, Subscription } from "../../src/kernel/bus/types.ts";
import { AppError, ErrorCode, badInput } from "../../src/kernel/errors.ts";
import type { Identity } from "../../src/kernel/identity.ts";
import { newId } from "../../src/kernel/ids.ts";
import type { DatabaseConfig } from "../../src/kernel/module.ts";
import { openDatabase } from "../../src/kernel/storage/database.ts";
import { migrate } from "../../src/kernel/storage/migrate.ts";
import {
  CatalogSubjects,
  type ReleaseStockReply,
  type ReleaseStockRequest,
  type ReservedItem,
  type ReserveStockReply,
  type ReserveStockRequest,
} from "../../src/modules/catalog/contract/index.ts";
import { OrderEvents, type OrderCreatedEvent } from "../../src/modules/order/contract/index.ts";
import { createOrderModule, openOrderStore } from "../../src/modules/order/module.ts";
import { ORDER_MIGRATIONS } from "../../src/modules/order/storage/migrations.ts";
import { openOrderDatabase } from "../../src/modules/order/storage/store.ts";
import type { OrderStore } from "../../src/modules/order/storage/types.ts";
import { DATABASES, freshPostgresDatabase, openProbe, usePostgres, type DbProbe } from "../helpers/databases.ts";
import { startModules, type ModuleHarness } from "../helpers/modules.ts";
import { eventually } from "../helpers/eventually.ts";

/**
 * The order module against a fake catalog: a small responder on the catalog's bus subjects
 * (the other side of the contract in catalog/contract/subjects.ts) that keeps stock in a Map,
 * throws real AppErrors and records every call. The real catalog is exercised in
 * order-catalog.test.ts and the end-to-end suite.
 */

interface FakeProduct {
  priceCents: number;
  currency: string;
  stock: number;
}
interface Call {
  subject: string;
  body: unknown;
  headers: Headers;
}

/** Test double of the catalog's stock API: all-or-nothing reservations, idempotent release. */
class FakeCatalog {
  readonly products = new Map<string, FakeProduct>();
  readonly calls: Call[] = [];
  /** Set to make reserve fail after it reserved (a crash before the reply: the caller gets INTERNAL_SERVER_ERROR). */
  failAfterReserve = false;
  private readonly reservations = new Map<string, { items: ReservedItem[]; status: "held" | "released" }>();
  private subs: Subscription[] = [];

  constructor(private readonly bus: Bus) {}

  add(p: FakeProduct): string {
    const id = newId();
    this.products.set(id, { ...p });
    return id;
  }
  stock(id: string): number | undefined {
    return this.products.get(id)?.stock;
  }
  callsTo(subject: string): Call[] {
    return this.calls.filter((c) => c.subject === subject);
  }

  start(): void {
    this.subs = [
      serveJson<ReserveStockRequest, ReserveStockReply>(
        this.bus,
        CatalogSubjects.reserveStock,
        (req, meta) => {
          this.calls.push({ subject: meta.subject, body: req, headers: meta.headers });
          const reply = this.reserve(req);
          if (this.failAfterReserve) throw new Error("crashed after the commit");
          return reply;
        },
        { queue: "catalog" },
      ),
      serveJson<ReleaseStockRequest, ReleaseStockReply>(
        this.bus,
        CatalogSubjects.releaseStock,
        (req, meta) => {
          this.calls.push({ subject: meta.subject, body: req, headers: meta.headers });
          return this.release(req);
        },
        { queue: "catalog" },
      ),
    ];
  }
  stop(): void {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
  }

  private reserve(req: ReserveStockRequest): ReserveStockReply {
    const existing = this.reservations.get(req.reservationId);
    if (existing) return { reservationId: req.reservationId, items: existing.items };
    if (req.items.length === 0) throw badInput("no items");
    const seen = new Set<string>();
    for (const i of req.items) {
      if (!Number.isInteger(i.quantity) || i.quantity < 1) throw badInput("bad quantity");
      if (seen.has(i.productId)) throw badInput("duplicate product");
      seen.add(i.productId);
      const p = this.products.get(i.productId);
      if (!p) throw new AppError(ErrorCode.NOT_FOUND, `product ${i.productId} not found`, { productId: i.productId });
      if (p.stock < i.quantity) {
        throw new AppError(ErrorCode.OUT_OF_STOCK, `only ${p.stock} left`, {
          productId: i.productId,
          requested: i.quantity,
          available: p.stock,
        });
      }
    }
    const items = req.items.map((i): ReservedItem => {
      const p = this.products.get(i.productId) as FakeProduct;
      p.stock -= i.quantity;
      return { productId: i.productId, quantity: i.quantity, unitPriceCents: p.priceCents, currency: p.currency };
    });
    this.reservations.set(req.reservationId, { items, status: "held" });
    return { reservationId: req.reservationId, items };
  }

  private release(req: ReleaseStockRequest): ReleaseStockReply {
    const r = this.reservations.get(req.reservationId);
    if (r?.status !== "held") return { released: false };
    for (const i of r.items) (this.products.get(i.productId) as FakeProduct).stock += i.quantity;
    r.status = "released";
    return { released: true };
  }
}

interface MoneyOut {
  amount: string;
  currency: string;
  cents: number;
}
interface OrderOut {
  id: string;
  status: string;
  createdAt: string;
  account: { id: string };
  total: MoneyOut;
  items: { product: { id: string }; quantity: number; unitPrice: MoneyOut; lineTotal: MoneyOut }[];
}

const MONEY = "amount currency cents";
const ORDER = `id status createdAt account { id } total { ${MONEY} } items { product { id } quantity unitPrice { ${MONEY} } lineTotal { ${MONEY} } }`;
const CREATE = `mutation C($input: CreateOrderInput!) { createOrder(input: $input) { ${ORDER} } }`;
const GET = `query O($id: ID!) { order(id: $id) { ${ORDER} } }`;
const ACCOUNT_ORDERS = `query E($r: [_Any!]!) { _entities(representations: $r) { ... on Account { id orders { id } } } }`;
const ORDER_ENTITY = `query E($r: [_Any!]!) { _entities(representations: $r) { ... on Order { id account { id } } } }`;

usePostgres();

for (const db of DATABASES)
  describe(`order [${db}]`, () => {
    let h: ModuleHarness;
    let catalog: FakeCatalog;
    /** Set to make the next order write throw, as a full disk or a lost connection would. */
    let failWrites = false;
    const created: { event: OrderCreatedEvent; headers: Headers }[] = [];
    const user = (): Identity => ({ accountId: newId(), roles: ["customer"] });
    let alice: Identity;
    let bob: Identity;
    let usd1999: string;
    let usd450: string;
    let eur300: string;

    /** Wraps the real store (SQLite or PostgreSQL) so that `create` fails while {@link failWrites} is set. */
    function failingStore(inner: OrderStore): OrderStore {
      return {
        // The outbox passes through: events written with a change are relayed as from the real store.
        ...(inner.outbox ? { outbox: inner.outbox } : {}),
        create: (o, events) => (failWrites ? Promise.reject(new Error("disk I/O error")) : inner.create(o, events)),
        byId: (id) => inner.byId(id),
        byAccount: (id) => inner.byAccount(id),
        transition: (id, from, to, opts) => inner.transition(id, from, to, opts),
        close: () => inner.close(),
      };
    }

    async function gql<T>(query: string, variables: Record<string, unknown>, identity?: Identity): Promise<T> {
      const r = await h.query<T>("order", query, variables, identity);
      if (r.errors?.length) throw new Error(JSON.stringify(r.errors));
      return r.data as T;
    }
    /** The single error of a failing operation: its code and extensions. */
    async function failure(
      query: string,
      variables: Record<string, unknown>,
      identity?: Identity,
    ): Promise<{ code: unknown; extensions: Record<string, unknown>; data: unknown }> {
      const r = await h.query("order", query, variables, identity);
      expect(r.errors?.length).toBe(1);
      const ext = (r.errors?.[0]?.extensions ?? {}) as Record<string, unknown>;
      return { code: ext["code"], extensions: ext, data: r.data };
    }
    const createOrder = async (items: { productId: string; quantity: number }[], identity: Identity = alice): Promise<OrderOut> =>
      (await gql<{ createOrder: OrderOut }>(CREATE, { input: { items } }, identity)).createOrder;

    /** Second connection to the module's database. */
    let probe: DbProbe;
    /** Orders rows in the module's database. */
    async function orderRows(): Promise<{ orders: number; items: number }> {
      const n = async (sql: string): Promise<number> => (await probe.get<{ n: number }>(sql))?.n ?? -1;
      return { orders: await n("SELECT count(*) AS n FROM orders"), items: await n("SELECT count(*) AS n FROM order_items") };
    }

    /** Lets asynchronous deliveries (events) that would have happened happen. */
    const settle = async (): Promise<void> => {
      await h.bus.flush();
      await Bun.sleep(20);
    };

    beforeAll(async () => {
      h = await startModules(
        [createOrderModule({ storeFactory: async (ctx) => failingStore(await openOrderStore(ctx)) })],
        // A catalog call nobody serves waits for a responder this long (within the test's 5 s request to the order subgraph).
        { busTimeouts: [{ pattern: "catalog.stock.*", timeoutMs: 1500 }] },
        { database: db },
      );
      probe = openProbe(h.database("order"));
      catalog = new FakeCatalog(h.bus);
      catalog.start();
      h.bus.subscribe(OrderEvents.created, (m: Msg) => {
        created.push({ event: m.json<OrderCreatedEvent>(), headers: m.headers });
      });
      alice = user();
      bob = user();
      usd1999 = catalog.add({ priceCents: 1999, currency: "USD", stock: 1000 });
      usd450 = catalog.add({ priceCents: 450, currency: "USD", stock: 1000 });
      eur300 = catalog.add({ priceCents: 300, currency: "EUR", stock: 1000 });
    });
    afterAll(async () => {
      await probe.close();
      await h.stop();
    });
    beforeEach(() => {
      failWrites = false;
      catalog.calls.length = 0;
    });

    describe("createOrder", () => {
      test("reserves, records a PENDING order with prices from the reservation, publishes order.created", async () => {
        const a = catalog.add({ priceCents: 1999, currency: "USD", stock: 5 });
        const b = catalog.add({ priceCents: 450, currency: "USD", stock: 10 });
        const o = await createOrder([
          { productId: a, quantity: 2 },
          { productId: b, quantity: 1 },
        ]);

        expect(o.id).toMatch(/^[0-9A-Za-z]{27}$/);
        expect(o.status).toBe("PENDING");
        expect(o.account).toEqual({ id: alice.accountId });
        expect(Math.abs(Date.parse(o.createdAt) - Date.now())).toBeLessThan(10_000);
        expect(o.items).toEqual([
          {
            product: { id: a },
            quantity: 2,
            unitPrice: { amount: "19.99", currency: "USD", cents: 1999 },
            lineTotal: { amount: "39.98", currency: "USD", cents: 3998 },
          },
          {
            product: { id: b },
            quantity: 1,
            unitPrice: { amount: "4.50", currency: "USD", cents: 450 },
            lineTotal: { amount: "4.50", currency: "USD", cents: 450 },
          },
        ]);
        expect(o.total).toEqual({ amount: "44.48", currency: "USD", cents: 2 * 1999 + 450 });
        expect(catalog.stock(a)).toBe(3);
        expect(catalog.stock(b)).toBe(9);

        // One reservation, keyed by the order id, carrying the request id (and not the identity).
        const [reserve, ...more] = catalog.calls;
        expect(more).toEqual([]);
        expect(reserve?.subject).toBe(CatalogSubjects.reserveStock);
        // maxTotalCents: ORDER_MAX_TOTAL_CENTS, for the catalog to check at the prices it captures.
        expect(reserve?.body).toEqual({
          reservationId: o.id,
          items: [
            { productId: a, quantity: 2 },
            { productId: b, quantity: 1 },
          ],
          maxTotalCents: 100_000_000,
        });
        expect(reserve?.headers["sy-request-id"]).toBe("test");
        expect(reserve?.headers["sy-identity"]).toBeUndefined();

        await eventually("created.some((c) => c.event.orderId === o.id)", () => created.some((c) => c.event.orderId === o.id));
        const ev = created.find((c) => c.event.orderId === o.id);
        expect(ev?.event).toEqual({
          eventId: expect.stringMatching(/^[0-9A-Za-z]{27}$/),
          orderId: o.id,
          accountId: alice.accountId,
          reservationId: o.id,
          items: [
            { productId: a, quantity: 2, unitPriceCents: 1999, currency: "USD" },
            { productId: b, quantity: 1, unitPriceCents: 450, currency: "USD" },
          ],
          totalCents: 4448,
          currency: "USD",
          createdAt: o.createdAt,
        });
        expect(ev?.headers["sy-request-id"]).toBe("test");

        // Read back: the stored order is what was returned.
        expect((await gql<{ order: OrderOut }>(GET, { id: o.id }, alice)).order).toEqual(o);
      });

      test("UNAUTHENTICATED without identity; nothing reserved or written", async () => {
        const before = await orderRows();
        const err = await failure(CREATE, { input: { items: [{ productId: usd1999, quantity: 1 }] } });
        expect(err.code).toBe("UNAUTHENTICATED");
        expect(catalog.calls).toEqual([]);
        expect(await orderRows()).toEqual(before);
      });

      const invalid: [string, () => { productId: string; quantity: number }[]][] = [
        ["no items", () => []],
        ["quantity 0", () => [{ productId: usd1999, quantity: 0 }]],
        ["negative quantity", () => [{ productId: usd1999, quantity: -3 }]],
        [
          "one bad line among good ones",
          () => [
            { productId: usd450, quantity: 1 },
            { productId: usd1999, quantity: 0 },
          ],
        ],
        [
          "the same product twice",
          () => [
            { productId: usd1999, quantity: 1 },
            { productId: usd1999, quantity: 2 },
          ],
        ],
        ["an empty product id", () => [{ productId: "", quantity: 1 }]],
      ];
      test.each(invalid)("BAD_USER_INPUT: %s; nothing reserved or written", async (_label, items) => {
        const before = await orderRows();
        const err = await failure(CREATE, { input: { items: items() } }, alice);
        expect(err.code).toBe("BAD_USER_INPUT");
        expect(err.data).toBeNull();
        expect(catalog.calls).toEqual([]);
        expect(await orderRows()).toEqual(before);
      });

      const overLimit: [string, string, () => { productId: string; quantity: number }[]][] = [
        ["ORDER_MAX_LINES", "51 lines", () => Array.from({ length: 51 }, () => ({ productId: newId(), quantity: 1 }))],
        [
          "ORDER_MAX_LINE_QUANTITY",
          "11 units of one product",
          () => [
            { productId: usd450, quantity: 1 },
            { productId: usd1999, quantity: 11 },
          ],
        ],
      ];
      test.each(overLimit)("LIMIT_EXCEEDED %s: %s; the catalog is not even asked", async (limitName, _label, items) => {
        const before = await orderRows();
        const err = await failure(CREATE, { input: { items: items() } }, alice);
        expect(err.code).toBe("LIMIT_EXCEEDED");
        expect(err.extensions).toMatchObject({ limitName, limit: limitName === "ORDER_MAX_LINES" ? 50 : 10 });
        expect(catalog.calls).toEqual([]);
        expect(await orderRows()).toEqual(before);
      });

      test("a non-integer quantity is refused by the schema before any resolver runs", async () => {
        const r = await h.query("order", CREATE, { input: { items: [{ productId: usd1999, quantity: 1.5 }] } }, alice);
        expect(r.errors?.length).toBe(1);
        expect(catalog.calls).toEqual([]);
      });

      test("OUT_OF_STOCK passes through with the catalog's code and details; no stock moves, no order", async () => {
        const a = catalog.add({ priceCents: 100, currency: "USD", stock: 5 });
        const b = catalog.add({ priceCents: 100, currency: "USD", stock: 2 });
        const before = await orderRows();
        const events = created.length;
        const err = await failure(
          CREATE,
          {
            input: {
              items: [
                { productId: a, quantity: 1 },
                { productId: b, quantity: 3 },
              ],
            },
          },
          alice,
        );
        expect(err.code).toBe("OUT_OF_STOCK");
        expect(err.extensions).toMatchObject({ productId: b, requested: 3, available: 2 });
        expect([catalog.stock(a), catalog.stock(b)]).toEqual([5, 2]);
        expect(await orderRows()).toEqual(before);
        // The catalog refused, so there is nothing to release.
        expect(catalog.callsTo(CatalogSubjects.releaseStock)).toEqual([]);
        await settle();
        expect(created.length).toBe(events);
      });

      test("NOT_FOUND passes through with the product id; no order", async () => {
        const unknown = newId();
        const before = await orderRows();
        const err = await failure(
          CREATE,
          {
            input: {
              items: [
                { productId: usd450, quantity: 1 },
                { productId: unknown, quantity: 1 },
              ],
            },
          },
          alice,
        );
        expect(err.code).toBe("NOT_FOUND");
        expect(err.extensions["productId"]).toBe(unknown);
        expect(await orderRows()).toEqual(before);
      });

      test("mixed currencies: BAD_USER_INPUT, the reservation is released, no order", async () => {
        const usdStock = catalog.stock(usd450);
        const eurStock = catalog.stock(eur300);
        const before = await orderRows();
        const err = await failure(
          CREATE,
          {
            input: {
              items: [
                { productId: usd450, quantity: 1 },
                { productId: eur300, quantity: 1 },
              ],
            },
          },
          alice,
        );
        expect(err.code).toBe("BAD_USER_INPUT");
        const [reserve] = catalog.callsTo(CatalogSubjects.reserveStock);
        expect(catalog.callsTo(CatalogSubjects.releaseStock).map((c) => c.body)).toEqual([
          { reservationId: (reserve?.body as ReserveStockRequest).reservationId },
        ]);
        expect([catalog.stock(usd450), catalog.stock(eur300)]).toEqual([usdStock, eurStock]);
        expect(await orderRows()).toEqual(before);
      });

      test("write failure: the reservation is released, the error is masked, no order and no event", async () => {
        const a = catalog.add({ priceCents: 700, currency: "USD", stock: 4 });
        const before = await orderRows();
        const events = created.length;
        failWrites = true;
        const err = await failure(CREATE, { input: { items: [{ productId: a, quantity: 3 }] } }, alice);
        expect(err.code).toBe("INTERNAL_SERVER_ERROR");
        expect(JSON.stringify(err)).not.toContain("disk I/O");
        const [reserve] = catalog.callsTo(CatalogSubjects.reserveStock);
        const reservationId = (reserve?.body as ReserveStockRequest).reservationId;
        expect(catalog.callsTo(CatalogSubjects.releaseStock).map((c) => c.body)).toEqual([{ reservationId }]);
        expect(catalog.callsTo(CatalogSubjects.releaseStock)[0]?.headers["sy-request-id"]).toBe("test");
        expect(catalog.stock(a)).toBe(4);
        expect(await orderRows()).toEqual(before);
        await settle();
        expect(created.length).toBe(events);
        failWrites = false;
        expect((await gql<{ order: OrderOut | null }>(GET, { id: reservationId }, alice)).order).toBeNull();
      });

      test("reserve fails with an internal error (outcome unknown): the reservation is released just in case", async () => {
        const a = catalog.add({ priceCents: 100, currency: "USD", stock: 5 });
        const before = await orderRows();
        catalog.failAfterReserve = true;
        try {
          const err = await failure(CREATE, { input: { items: [{ productId: a, quantity: 2 }] } }, alice);
          expect(err.code).toBe("INTERNAL_SERVER_ERROR");
        } finally {
          catalog.failAfterReserve = false;
        }
        const reserve = catalog
          .callsTo(CatalogSubjects.reserveStock)
          .find((c) => (c.body as ReserveStockRequest).items[0]?.productId === a);
        const reservationId = (reserve?.body as ReserveStockRequest).reservationId;
        expect(
          catalog.callsTo(CatalogSubjects.releaseStock).filter((c) => (c.body as ReleaseStockRequest).reservationId === reservationId),
        ).toHaveLength(1);
        expect(catalog.stock(a)).toBe(5);
        expect(await orderRows()).toEqual(before);
      });

      test("catalog unreachable: SERVICE_UNAVAILABLE, nothing written", async () => {
        const before = await orderRows();
        catalog.stop();
        try {
          const err = await failure(CREATE, { input: { items: [{ productId: usd450, quantity: 1 }] } }, alice);
          expect(err.code).toBe("SERVICE_UNAVAILABLE");
        } finally {
          catalog.start();
        }
        expect(await orderRows()).toEqual(before);
      });

      test("concurrent orders are all written, each with its own reservation", async () => {
        const a = catalog.add({ priceCents: 100, currency: "USD", stock: 100 });
        const buyer = user();
        const orders = await Promise.all(Array.from({ length: 20 }, () => createOrder([{ productId: a, quantity: 2 }], buyer)));
        expect(new Set(orders.map((o) => o.id)).size).toBe(20);
        expect(catalog.stock(a)).toBe(60);
        const r = await gql<{ _entities: { orders: { id: string }[] }[] }>(
          ACCOUNT_ORDERS,
          { r: [{ __typename: "Account", id: buyer.accountId }] },
          buyer,
        );
        expect(r._entities[0]?.orders.length).toBe(20);
      });
    });

    describe("visibility", () => {
      let mine: OrderOut;
      beforeAll(async () => {
        mine = await createOrder([{ productId: usd1999, quantity: 1 }], alice);
      });

      test("the owner reads the order", async () => {
        expect((await gql<{ order: OrderOut }>(GET, { id: mine.id }, alice)).order).toEqual(mine);
      });

      test("another account gets null, as for an unknown id", async () => {
        expect((await gql<{ order: OrderOut | null }>(GET, { id: mine.id }, bob)).order).toBeNull();
        expect((await gql<{ order: OrderOut | null }>(GET, { id: newId() }, alice)).order).toBeNull();
      });

      test("anonymous callers get UNAUTHENTICATED", async () => {
        expect((await failure(GET, { id: mine.id })).code).toBe("UNAUTHENTICATED");
      });

      test("the Order reference resolver applies the same owner check", async () => {
        const r = [{ __typename: "Order", id: mine.id }];
        expect((await gql<{ _entities: unknown[] }>(ORDER_ENTITY, { r }, alice))._entities).toEqual([
          { id: mine.id, account: { id: alice.accountId } },
        ]);
        expect((await gql<{ _entities: unknown[] }>(ORDER_ENTITY, { r }, bob))._entities).toEqual([null]);
        expect((await gql<{ _entities: unknown[] }>(ORDER_ENTITY, { r }))._entities).toEqual([null]);
      });
    });

    describe("Account.orders", () => {
      test("through _entities: the account's own orders, newest first; empty for anyone else", async () => {
        const carol = user();
        const o1 = await createOrder([{ productId: usd450, quantity: 1 }], carol);
        const o2 = await createOrder([{ productId: usd1999, quantity: 1 }], carol);
        const o3 = await createOrder([{ productId: usd450, quantity: 2 }], carol);
        await createOrder([{ productId: usd450, quantity: 1 }], bob);
        const r = [{ __typename: "Account", id: carol.accountId }];
        type Res = { _entities: { id: string; orders: { id: string }[] }[] };
        expect((await gql<Res>(ACCOUNT_ORDERS, { r }, carol))._entities).toEqual([
          { id: carol.accountId, orders: [{ id: o3.id }, { id: o2.id }, { id: o1.id }] },
        ]);
        expect((await gql<Res>(ACCOUNT_ORDERS, { r }, bob))._entities).toEqual([{ id: carol.accountId, orders: [] }]);
        expect((await gql<Res>(ACCOUNT_ORDERS, { r }))._entities).toEqual([{ id: carol.accountId, orders: [] }]);
      });

      test("an account without orders has an empty list", async () => {
        const dave = user();
        const r = [{ __typename: "Account", id: dave.accountId }];
        expect((await gql<{ _entities: unknown[] }>(ACCOUNT_ORDERS, { r }, dave))._entities).toEqual([{ id: dave.accountId, orders: [] }]);
      });

      test("orders nest with their items and totals", async () => {
        const erin = user();
        const o = await createOrder([{ productId: usd1999, quantity: 3 }], erin);
        const r = await gql<{ _entities: { orders: OrderOut[] }[] }>(
          `query E($r: [_Any!]!) { _entities(representations: $r) { ... on Account { orders { ${ORDER} } } } }`,
          { r: [{ __typename: "Account", id: erin.accountId }] },
          erin,
        );
        expect(r._entities[0]?.orders).toEqual([o]);
      });
    });

    describe("schema and storage", () => {
      test("_service.sdl declares the entities and stubs", async () => {
        const { _service } = await gql<{ _service: { sdl: string } }>("{ _service { sdl } }", {});
        expect(_service.sdl).toMatch(/type Order\s+@key\(fields: "id"\)/);
        expect(_service.sdl).toMatch(/type Account\s+@key\(fields: "id"\)/);
        expect(_service.sdl).toMatch(/type Product\s+@key\(fields: "id", resolvable: false\)/);
      });

      test("migrations are idempotent on the module's database and on a fresh one", async () => {
        const config = h.database("order");
        const dir = mkdtempSync(join(tmpdir(), "switchyard-order-"));
        const fresh: DatabaseConfig =
          config.kind === "sqlite"
            ? { kind: "sqlite", path: join(dir, "fresh.sqlite") }
            : { kind: "postgres", url: await freshPostgresDatabase(), poolMax: 1 };
        try {
          for (const [target, expected] of [
            [config, []],
            [fresh, ORDER_MIGRATIONS.map((m) => m.version)],
          ] as const) {
            const mdb = openDatabase(target);
            try {
              expect(await migrate(mdb, ORDER_MIGRATIONS)).toEqual([...expected]);
              expect(await migrate(mdb, ORDER_MIGRATIONS)).toEqual([]);
            } finally {
              await mdb.close();
            }
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });

      test("the store writes an order and its lines atomically", async () => {
        // PostgreSQL: a second pool on the module's own database (its orders are invisible to other tests).
        const config = h.database("order");
        const store = await openOrderDatabase(
          config.kind === "sqlite" ? { kind: "sqlite", path: ":memory:" } : { kind: "postgres", url: config.url, poolMax: 2 },
        );
        const base = {
          accountId: newId(),
          status: "PENDING" as const,
          totalCents: 200,
          currency: "USD",
          createdAt: new Date().toISOString(),
        };
        const id = newId();
        const item = { productId: newId(), quantity: 1, unitPriceCents: 100, currency: "USD" };
        // The second line repeats the product: UNIQUE (order_id, product_id) fails mid-transaction.
        await expect(store.create({ ...base, id, items: [item, item] })).rejects.toThrow();
        expect(await store.byId(id)).toBeNull();
        await store.create({ ...base, id, items: [item, { ...item, productId: newId() }] });
        expect((await store.byId(id))?.items.length).toBe(2);
        await store.close();
      });
    });
  });
