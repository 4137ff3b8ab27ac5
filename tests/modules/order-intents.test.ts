import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ExecutionResult } from "graphql";
import { encodeJson } from "../../src/kernel/bus/codec.ts";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import type { Bus, Headers } from "../../src/kernel/bus/types.ts";
import type { Config } from "../../src/kernel/config.ts";
import type { Identity } from "../../src/kernel/identity.ts";
import { BusIdentity, resolveBusSigningKey } from "../../src/kernel/bus-identity.ts";
import { newId } from "../../src/kernel/ids.ts";
import { Kernel } from "../../src/kernel/kernel.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import { subgraphSubject, type ModuleDefinition } from "../../src/kernel/module.ts";
import { createMemoryRegistry } from "../../src/kernel/registry/memory.ts";
import { prepareDatabases, resolveDatabase } from "../../src/kernel/storage/resolve.ts";
import { catalogModule } from "../../src/modules/catalog/module.ts";
import { createOrderModule, openOrderStore } from "../../src/modules/order/module.ts";
import type { OrderRecord, OrderStore } from "../../src/modules/order/storage/types.ts";
import type { SagaStore } from "../../src/modules/order/storage/saga.ts";
import { openOrderDatabase } from "../../src/modules/order/storage/store.ts";
import { createPaymentModule } from "../../src/modules/payment/module.ts";
import { DATABASES, freshPostgresDatabase, openProbe, usePostgres, type DatabaseKind, type DbProbe } from "../helpers/databases.ts";
import { testConfig } from "../helpers/modules.ts";
import { eventually } from "../helpers/eventually.ts";

/**
 * Reservations of orders that were never written (ORDER_INTENT_GRACE_S): the order module's
 * sweeper gives their stock back within the grace period plus one sweep, retries while the
 * catalog is unreachable, and never races a slow but successful order write (exactly one of
 * the write and the sweeper wins). The catalog runs in its own kernel on the same memory bus,
 * so it can be stopped and started again as a separate process would be.
 */

usePostgres();

/** The grace period of these tests (s): sweeps run every 250 ms (grace / 4). */
const GRACE_S = 1;
/** How long after the grace the stock must be back: one sweep interval plus scheduling slack, ms. */
const SLACK_MS = 1500;

const CREATE = `mutation C($input: CreateOrderInput!) { createOrder(input: $input) { id status } }`;
const PAY = `mutation P($id: ID!, $token: String!) { payOrder(orderId: $id, payment: { token: $token }) { id status } }`;
const PRODUCTS = `{ products(first: 50) { edges { node { id stock } } } }`;

/** The catalog in one kernel, payment and order in another, on one memory bus. */
class Parts {
  readonly bus: Bus = createMemoryBus();
  readonly registry = createMemoryRegistry();
  readonly logger = createLogger({ level: "silent", pretty: false });
  catalog: Kernel | undefined;
  order: Kernel | undefined;
  /** Decides how long each order write waits before it runs (a slow database, a paused process). */
  delayWrite: (o: OrderRecord) => Promise<void> = async () => {};

  constructor(readonly config: Config) {}

  #kernel(defs: ModuleDefinition[]): Kernel {
    const k = new Kernel({
      bus: this.bus,
      registry: this.registry,
      config: this.config,
      logger: this.logger,
      databaseFor: (m) => resolveDatabase(this.config, m),
    });
    for (const d of defs) k.addModule(d);
    return k;
  }

  async startCatalog(): Promise<void> {
    this.catalog = this.#kernel([catalogModule]);
    await this.catalog.start();
  }

  async startOrder(): Promise<void> {
    // The real store (its saga store and intents come with it); only its write is delayed.
    const storeFactory = async (ctx: Parameters<typeof openOrderStore>[0]): Promise<OrderStore> => {
      const store = await openOrderStore(ctx);
      const create = store.create.bind(store);
      store.create = async (o, events, opts) => {
        await this.delayWrite(o);
        return create(o, events, opts);
      };
      return store;
    };
    this.order = this.#kernel([createPaymentModule(), createOrderModule({ storeFactory })]);
    await this.order.start();
  }

  async query<T>(module: string, query: string, variables: Record<string, unknown> = {}, identity?: Identity): Promise<ExecutionResult<T>> {
    // Signed as the gateway signs it (modules refuse unsigned identities).
    const headers: Headers = new BusIdentity({ key: resolveBusSigningKey(this.config), ttlMs: this.config.busIdentityTtlMs }).headers(
      identity,
      "test",
    );
    const reply = await this.bus.request(subgraphSubject(module), encodeJson({ query, variables }), { headers, timeoutMs: 30_000 });
    return reply.json<ExecutionResult<T>>();
  }

  async stop(): Promise<void> {
    await this.order?.stop();
    await this.catalog?.stop();
    await this.bus.close();
    await this.registry.close();
  }
}

for (const db of DATABASES)
  describe(`reservations of orders never written [${db}]`, () => {
    let parts: Parts;
    let dataDir: string;
    let catalogDb: DbProbe;
    let orderDb: DbProbe;
    let products: { id: string; stock: number }[];
    let next = 0;
    const user = (): Identity => ({ accountId: newId(), roles: ["customer"] });

    async function start(kind: DatabaseKind): Promise<void> {
      dataDir = mkdtempSync(join(tmpdir(), "switchyard-intents-"));
      const url = kind === "postgres" ? await freshPostgresDatabase() : undefined;
      const config = testConfig({
        dataDir,
        seed: true,
        orderIntentGraceS: GRACE_S,
        // Unpaid orders are not cancelled during these tests: only the intent sweeper moves stock.
        orderPaymentTimeoutS: 900,
        breakerResetMs: 200,
        ...(url ? { databaseUrl: url } : {}),
      });
      if (url) await prepareDatabases(config, ["catalog", "payment", "order"]);
      parts = new Parts(config);
      await parts.startCatalog();
      await parts.startOrder();
      catalogDb = openProbe(resolveDatabase(config, "catalog"));
      orderDb = openProbe(resolveDatabase(config, "order"));
      const r = await parts.query<{ products: { edges: { node: { id: string; stock: number } }[] } }>("catalog", PRODUCTS);
      products = (r.data?.products.edges ?? []).map((e) => e.node).filter((p) => p.stock >= 20);
      next = 0;
    }
    /** A product no other test of this file used (each test moves stock). */
    const fresh = (): { id: string; stock: number } => {
      const p = products[next++];
      if (!p) throw new Error("seed catalog ran out of products with stock >= 20");
      return p;
    };
    const stockOf = async (id: string): Promise<number> =>
      Number((await catalogDb.get<{ stock: number }>("SELECT stock FROM products WHERE id = ?", id))?.stock);
    const reservation = async (id: string): Promise<string | undefined> =>
      (await catalogDb.get<{ status: string }>("SELECT status FROM reservations WHERE id = ?", id))?.status;
    const intents = async (): Promise<{ order_id: string; swept: number | boolean }[]> =>
      orderDb.all("SELECT order_id, swept_at IS NOT NULL AS swept FROM reservation_intents");
    const orderCount = async (accountId: string): Promise<number> =>
      Number((await orderDb.get<{ n: number }>("SELECT count(*) AS n FROM orders WHERE account_id = ?", accountId))?.n);
    const createOrder = (productId: string, quantity: number, who: Identity) =>
      parts.query<{ createOrder: { id: string; status: string } }>("order", CREATE, { input: { items: [{ productId, quantity }] } }, who);
    const codes = (r: ExecutionResult): unknown[] => (r.errors ?? []).map((e) => e.extensions?.["code"]);

    /** A second saga store on the order database (as another order instance would have). */
    async function withSagaStore(fn: (sagas: SagaStore) => Promise<void>): Promise<void> {
      const d = resolveDatabase(parts.config, "order");
      const store = await openOrderDatabase(d.kind === "postgres" ? { ...d, poolMax: 2 } : d);
      try {
        await fn(store.sagas);
      } finally {
        await store.close();
      }
    }

    beforeEach(async () => start(db), 60_000);
    afterEach(async () => {
      await catalogDb?.close();
      await orderDb?.close();
      await parts?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }, 30_000);

    test("an order not written within the grace: its stock is back within grace + one sweep, and the late write then fails", async () => {
      const p = fresh();
      const who = user();
      let open!: () => void;
      const gate = new Promise<void>((r) => (open = r));
      parts.delayWrite = () => gate;
      const pending = createOrder(p.id, 2, who);
      // Reserved in the catalog; the order write hangs (a paused process, a lost reply).
      await eventually("(await stockOf(p.id)) === p.stock - 2", async () => (await stockOf(p.id)) === p.stock - 2, { timeoutMs: 5000 });
      const reservedAt = Date.now();
      await eventually("(await stockOf(p.id)) === p.stock", async () => (await stockOf(p.id)) === p.stock, {
        timeoutMs: GRACE_S * 1000 + SLACK_MS,
      });
      expect(Date.now() - reservedAt).toBeGreaterThanOrEqual(GRACE_S * 1000 - 250);
      // The intent stays until the catalog confirmed, then goes.
      await eventually("(await intents()).length === 0", async () => (await intents()).length === 0, { timeoutMs: 2000 });

      // The write comes back after the sweeper won: refused, nothing written, stock not released twice.
      open();
      const r = await pending;
      expect(codes(r)).toEqual(["SERVICE_UNAVAILABLE"]);
      expect(r.errors?.[0]?.extensions?.["reason"]).toBe("RESERVATION_EXPIRED");
      expect(await orderCount(who.accountId)).toBe(0);
      expect(await stockOf(p.id)).toBe(p.stock);
    }, 30_000);

    test("the release is retried while the catalog is unreachable, and goes through once it is back", async () => {
      const p = fresh();
      const who = user();
      let open!: () => void;
      const gate = new Promise<void>((r) => (open = r));
      parts.delayWrite = () => gate;
      const pending = createOrder(p.id, 3, who);
      await eventually("(await stockOf(p.id)) === p.stock - 3", async () => (await stockOf(p.id)) === p.stock - 3, { timeoutMs: 5000 });

      await parts.catalog?.stop();
      // Swept (the order can no longer be written), but not released: the catalog does not answer.
      await eventually("(await intents()).some((i) => Boolean(i.swept))", async () => (await intents()).some((i) => Boolean(i.swept)), {
        timeoutMs: GRACE_S * 1000 + SLACK_MS,
      });
      // Several more passes fail (no responders, then the open breaker); the intent is kept for the next.
      await Bun.sleep(1500); // a window of several sweeper passes that must NOT release the intent
      expect((await intents()).map((i) => Boolean(i.swept))).toEqual([true]);
      expect(await stockOf(p.id)).toBe(p.stock - 3);

      await parts.startCatalog();
      await eventually(
        "(await stockOf(p.id)) === p.stock && (await intents()).length === 0",
        async () => (await stockOf(p.id)) === p.stock && (await intents()).length === 0,
        { timeoutMs: 5000 },
      );

      open();
      expect(codes(await pending)).toEqual(["SERVICE_UNAVAILABLE"]);
      expect(await orderCount(who.accountId)).toBe(0);
      expect(await stockOf(p.id)).toBe(p.stock);
    }, 30_000);

    test("slow order writes racing the sweeper: exactly one wins each, no stock lost or released under a written (then paid) order", async () => {
      const p = fresh();
      const who = user();
      // Writes finishing well before, just before, just after and well after the grace period.
      const delays = [100, 700, 950, 1050, 1150, 1300, 2500];
      const delayOf = new Map<string, number>();
      let n = 0;
      parts.delayWrite = (o) => {
        const ms = delays[n++ % delays.length] as number;
        delayOf.set(o.id, ms);
        return Bun.sleep(ms);
      };
      const results = await Promise.all(Array.from({ length: 14 }, () => createOrder(p.id, 1, who)));

      const created = results.flatMap((r) => (r.data?.createOrder ? [r.data.createOrder.id] : []));
      const refused = results.filter((r) => !r.data?.createOrder);
      // No written order lost its stock to the sweeper, and no refused one kept any.
      await eventually("(await intents()).length === 0", async () => (await intents()).length === 0, {
        timeoutMs: GRACE_S * 1000 + SLACK_MS,
      });
      for (const id of created) expect({ id, reservation: await reservation(id) }).toEqual({ id, reservation: "held" });
      expect(await stockOf(p.id)).toBe(p.stock - created.length);
      for (const r of refused) expect(codes(r)).toEqual(["SERVICE_UNAVAILABLE"]);
      // Both outcomes happen: writes well inside the grace succeed, the 2.5 s ones are too late.
      expect(created.length).toBeGreaterThanOrEqual(4);
      expect(refused.length).toBeGreaterThanOrEqual(2);
      for (const id of created) expect(delayOf.get(id)).toBeLessThan(2500);

      // Pay every order that was written; then let the sweeper run several more passes.
      parts.delayWrite = async () => {};
      for (const id of created) {
        const paid = await parts.query<{ payOrder: { status: string } }>("order", PAY, { id, token: "tok_visa" }, who);
        expect(paid.data?.payOrder.status).toBe("PAID");
      }
      await eventually("(await intents()).length === 0", async () => (await intents()).length === 0, {
        timeoutMs: GRACE_S * 1000 + SLACK_MS,
      });
      await Bun.sleep(1000); // a window in which a late release or a second commit would land

      // Every written order keeps its stock (committed once paid); every refused one holds none.
      expect(await orderCount(who.accountId)).toBe(created.length);
      expect(await stockOf(p.id)).toBe(p.stock - created.length);
      await eventually(
        "every written order's reservation committed",
        async () => {
          for (const id of created) if ((await reservation(id)) !== "committed") return false;
          return true;
        },
        { timeoutMs: 5000 },
      );
      const held = Number((await catalogDb.get<{ n: number }>("SELECT count(*) AS n FROM reservations WHERE status = 'held'"))?.n);
      expect(held).toBe(0);
    }, 60_000);

    test("sweeping is a compare-and-set, and a swept intent no longer counts as an unpaid order (ORDER_MAX_PENDING)", async () => {
      await withSagaStore(async (sagas) => {
        const accountId = newId();
        const limit = { accountId, maxPending: 1 };
        const [first, second] = [newId(), newId()];
        await sagas.addIntent(first, limit);
        // The account's one order is being placed: a second one is refused.
        await expect(sagas.addIntent(second, limit)).rejects.toMatchObject({ code: "LIMIT_EXCEEDED" });
        // Too young to be stale; then swept once: a second sweep (another instance) loses.
        expect(await sagas.staleIntents(60_000, 10)).toEqual([]);
        expect(await sagas.sweepIntent(first)).toBe(true);
        expect(await sagas.sweepIntent(first)).toBe(false);
        expect(await sagas.staleIntents(60_000, 10)).toEqual([{ orderId: first, orderExists: false, swept: true }]);
        // Its order can never be written, so it does not hold the account's slot while its release is pending.
        await sagas.addIntent(second, limit);
      });
    }, 30_000);
  });
