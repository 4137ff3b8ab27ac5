import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { ExecutionResult } from "graphql";
import type { Msg } from "../../src/kernel/bus/types.ts";
import { openStream } from "../../src/kernel/bus/stream.ts";
import type { Identity } from "../../src/kernel/identity.ts";
import { newId } from "../../src/kernel/ids.ts";
import { subgraphStreamSubject } from "../../src/kernel/subgraph/server.ts";
import { CatalogEvents, type StockChangedEvent } from "../../src/modules/catalog/contract/index.ts";
import { catalogModule } from "../../src/modules/catalog/module.ts";
import { OrderEvents, type OrderStatusChangedEvent } from "../../src/modules/order/contract/index.ts";
import { orderModule } from "../../src/modules/order/module.ts";
import { DATABASES, openProbe, usePostgres, type DbProbe } from "../helpers/databases.ts";
import { startModules, type ModuleHarness } from "../helpers/modules.ts";
import { eventually } from "../helpers/eventually.ts";

/**
 * Order status transitions with the real catalog (cancelOrder, setOrderStatus, the
 * reservation lifecycle held → committed on PAID / released on CANCELLED), and the order and
 * catalog subgraphs' subscriptions served as bus streams, on both stores.
 */

interface P {
  id: string;
  name: string;
  stock: number;
}

interface Err {
  message: string;
  extensions?: Record<string, unknown>;
}

const CREATE = `mutation C($input: CreateOrderInput!) { createOrder(input: $input) { id status } }`;
const CANCEL = `mutation X($id: ID!) { cancelOrder(id: $id) { id status } }`;
const SET = `mutation S($id: ID!, $status: OrderStatus!) { setOrderStatus(id: $id, status: $status) { id status } }`;
const WATCH = `subscription W($orderId: ID) { orderStatusChanged(orderId: $orderId) { id status account { id } items { product { id } quantity } } }`;
const WATCH_STOCK = `subscription P($productId: ID!) { productStockChanged(productId: $productId) { id name stock inStock } }`;

usePostgres();

for (const db of DATABASES)
  describe(`order status transitions [${db}]`, () => {
    let h: ModuleHarness;
    let catalogDb: DbProbe;
    let products: P[];
    const statusEvents: OrderStatusChangedEvent[] = [];
    const user = (): Identity => ({ accountId: newId(), roles: ["customer"] });
    const admin: Identity = { accountId: newId(), roles: ["customer", "admin"] };

    let next = 0;
    /** A product with stock not used by another test (each test moves stock). */
    const fresh = (): P => {
      const p = products.filter((x) => x.stock >= 5 && !x.name.startsWith("Limited Edition"))[next++];
      if (!p) throw new Error("seed catalog ran out of products");
      return p;
    };
    async function stockOf(id: string): Promise<number> {
      const r = await h.query<{ product: { stock: number } }>("catalog", "query S($id: ID!) { product(id: $id) { stock } }", { id });
      return r.data?.product.stock ?? -1;
    }
    const reservationStatus = async (id: string): Promise<string | undefined> =>
      (await catalogDb.get<{ status: string }>("SELECT status FROM reservations WHERE id = ?", id))?.status;
    /** Runs a mutation and returns data or the error codes. */
    async function run<T>(
      query: string,
      variables: Record<string, unknown>,
      who?: Identity,
    ): Promise<{ data: T | undefined; codes: unknown[]; errors: Err[] }> {
      const r = await h.query<T>("order", query, variables, who);
      const errors = (r.errors ?? []) as unknown as Err[];
      return { data: r.data ?? undefined, codes: errors.map((e) => e.extensions?.["code"]), errors };
    }
    async function order(who: Identity, p: P, quantity = 1): Promise<string> {
      const r = await run<{ createOrder: { id: string } }>(CREATE, { input: { items: [{ productId: p.id, quantity }] } }, who);
      if (!r.data) throw new Error(JSON.stringify(r.errors));
      return r.data.createOrder.id;
    }
    /** Opens a subscription on a subgraph's stream subject, as the gateway does. */
    async function subscribe(module: string, query: string, variables: Record<string, unknown>, who?: Identity) {
      const headers = h.kernel.busIdentity.headers(who, "sub-test");
      return openStream<ExecutionResult>(h.bus, subgraphStreamSubject(module), { query, variables }, { headers });
    }

    beforeAll(async () => {
      h = await startModules([orderModule, catalogModule], { seed: true }, { database: db });
      catalogDb = openProbe(h.database("catalog"));
      const r = await h.query<{ products: { edges: { node: P }[] } }>(
        "catalog",
        "{ products(first: 100) { edges { node { id name stock } } } }",
      );
      products = (r.data?.products.edges ?? []).map((e) => e.node);
      h.bus.subscribe(OrderEvents.statusChanged, (m: Msg) => void statusEvents.push(m.json<OrderStatusChangedEvent>()));
    }, 60_000);
    afterAll(async () => {
      await catalogDb.close();
      await h.stop();
    });

    describe("cancelOrder", () => {
      test("the owner cancels a PENDING order: CANCELLED, stock back, reservation released, event published; a second cancel is INVALID_STATE", async () => {
        const a = fresh();
        const who = user();
        const id = await order(who, a, 3);
        expect(await stockOf(a.id)).toBe(a.stock - 3);
        expect(await reservationStatus(id)).toBe("held");

        const r = await run<{ cancelOrder: { id: string; status: string } }>(CANCEL, { id }, who);
        expect(r.errors).toEqual([]);
        expect(r.data?.cancelOrder).toEqual({ id, status: "CANCELLED" });
        // Released synchronously: the stock is back when the mutation returns.
        expect(await stockOf(a.id)).toBe(a.stock);
        expect(await reservationStatus(id)).toBe("released");
        await eventually("statusEvents.some((e) => e.orderId === id)", () => statusEvents.some((e) => e.orderId === id));
        const event = statusEvents.find((e) => e.orderId === id);
        expect(event).toMatchObject({ orderId: id, accountId: who.accountId, status: "CANCELLED", previousStatus: "PENDING" });
        expect(typeof event?.eventId).toBe("string");
        expect(Number.isNaN(Date.parse(event?.at ?? ""))).toBe(false);

        const again = await run(CANCEL, { id }, who);
        expect(again.codes).toEqual(["INVALID_STATE"]);
        expect(again.errors[0]?.extensions).toMatchObject({ status: "CANCELLED", requested: "CANCELLED" });
        // The catalog consumed the CANCELLED event too and did not return the stock twice.
        await Bun.sleep(50); // a window in which a second release would land
        expect(await stockOf(a.id)).toBe(a.stock);
      });

      test("anonymous → UNAUTHENTICATED; another account → NOT_FOUND (ids cannot be probed); unknown → NOT_FOUND; an admin may cancel anyone's", async () => {
        const a = fresh();
        const owner = user();
        const id = await order(owner, a, 1);
        expect((await run(CANCEL, { id })).codes).toEqual(["UNAUTHENTICATED"]);
        expect((await run(CANCEL, { id }, user())).codes).toEqual(["NOT_FOUND"]);
        expect((await run(CANCEL, { id: newId() }, owner)).codes).toEqual(["NOT_FOUND"]);
        expect(await stockOf(a.id)).toBe(a.stock - 1);
        const r = await run<{ cancelOrder: { status: string } }>(CANCEL, { id }, admin);
        expect(r.data?.cancelOrder.status).toBe("CANCELLED");
        expect(await stockOf(a.id)).toBe(a.stock);
      });
    });

    describe("setOrderStatus", () => {
      test("customers get FORBIDDEN, anonymous UNAUTHENTICATED; nothing changes", async () => {
        const a = fresh();
        const who = user();
        const id = await order(who, a, 1);
        expect((await run(SET, { id, status: "PAID" }, who)).codes).toEqual(["FORBIDDEN"]);
        expect((await run(SET, { id, status: "PAID" })).codes).toEqual(["UNAUTHENTICATED"]);
        expect(await reservationStatus(id)).toBe("held");
      });

      test("admin PENDING → PAID commits the reservation (cancel is then INVALID_STATE, stock stays sold) → SHIPPED; backwards is INVALID_STATE", async () => {
        const a = fresh();
        const who = user();
        const id = await order(who, a, 2);
        const paid = await run<{ setOrderStatus: { status: string } }>(SET, { id, status: "PAID" }, admin);
        expect(paid.data?.setOrderStatus.status).toBe("PAID");
        await eventually('(await reservationStatus(id)) === "committed"', async () => (await reservationStatus(id)) === "committed");
        const cancel = await run(CANCEL, { id }, who);
        expect(cancel.codes).toEqual(["INVALID_STATE"]);
        expect(cancel.errors[0]?.extensions).toMatchObject({ status: "PAID", requested: "CANCELLED" });
        expect(await stockOf(a.id)).toBe(a.stock - 2);

        expect((await run<{ setOrderStatus: { status: string } }>(SET, { id, status: "SHIPPED" }, admin)).data?.setOrderStatus.status).toBe(
          "SHIPPED",
        );
        expect((await run(SET, { id, status: "PENDING" }, admin)).codes).toEqual(["INVALID_STATE"]);
        expect((await run(SET, { id, status: "SHIPPED" }, admin)).codes).toEqual(["INVALID_STATE"]);
        expect((await run(SET, { id: newId(), status: "PAID" }, admin)).codes).toEqual(["NOT_FOUND"]);
        await eventually(
          "statusEvents.filter((e) => e.orderId === id).length === 2",
          () => statusEvents.filter((e) => e.orderId === id).length === 2,
        );
        expect(statusEvents.filter((e) => e.orderId === id).map((e) => [e.previousStatus, e.status])).toEqual([
          ["PENDING", "PAID"],
          ["PAID", "SHIPPED"],
        ]);
      });

      test("PAYMENT_FAILED set by an admin returns the stock, as a failed payment does (it can never be paid); it can then be cancelled", async () => {
        // Before: the reservation stayed held, and nothing ever released it (the sweeper cancels PENDING orders only).
        const a = fresh();
        const who = user();
        const id = await order(who, a, 1);
        expect(await stockOf(a.id)).toBe(a.stock - 1);
        expect(
          (await run<{ setOrderStatus: { status: string } }>(SET, { id, status: "PAYMENT_FAILED" }, admin)).data?.setOrderStatus.status,
        ).toBe("PAYMENT_FAILED");
        expect(await reservationStatus(id)).toBe("released");
        expect(await stockOf(a.id)).toBe(a.stock);
        expect((await run<{ cancelOrder: { status: string } }>(CANCEL, { id }, who)).data?.cancelOrder.status).toBe("CANCELLED");
        expect(await stockOf(a.id)).toBe(a.stock);
      });

      test("a cancel racing a payment: exactly one wins and the stock agrees with the winner", async () => {
        for (let i = 0; i < 5; i++) {
          const a = fresh();
          const who = user();
          const id = await order(who, a, 1);
          const [c, p] = await Promise.all([run(CANCEL, { id }, who), run(SET, { id, status: "PAID" }, admin)]);
          const codes = [...c.codes, ...p.codes];
          expect(codes).toEqual(["INVALID_STATE"]);
          if (c.codes.length === 0) {
            expect(await stockOf(a.id)).toBe(a.stock);
            expect(await reservationStatus(id)).toBe("released");
          } else {
            await eventually('(await reservationStatus(id)) === "committed"', async () => (await reservationStatus(id)) === "committed");
            expect(await stockOf(a.id)).toBe(a.stock - 1);
          }
        }
      });
    });

    describe("subscriptions (subgraph streams)", () => {
      test("orderStatusChanged: the owner's stream gets each change of its orders with the order's fields; another account's stream gets only its own", async () => {
        const a = fresh();
        const alice = user();
        const bob = user();
        const aliceOrder = await order(alice, a, 1);
        const bobOrder = await order(bob, a, 1);
        const aliceSub = await subscribe("order", WATCH, {}, alice);
        const bobSub = await subscribe("order", WATCH, {}, bob);
        if (!("stream" in aliceSub) || !("stream" in bobSub)) throw new Error("expected streams");

        await run(SET, { id: aliceOrder, status: "PAID" }, admin);
        await run(CANCEL, { id: bobOrder }, bob);
        const first = await aliceSub.stream.next();
        expect(first.value?.data).toEqual({
          orderStatusChanged: {
            id: aliceOrder,
            status: "PAID",
            account: { id: alice.accountId },
            items: [{ product: { id: a.id }, quantity: 1 }],
          },
        });
        // Bob's first event is his own order: Alice's PAID (published before) never reached him.
        const bobFirst = await bobSub.stream.next();
        expect(bobFirst.value?.data).toMatchObject({ orderStatusChanged: { id: bobOrder, status: "CANCELLED" } });

        await run(SET, { id: aliceOrder, status: "SHIPPED" }, admin);
        expect((await aliceSub.stream.next()).value?.data).toMatchObject({ orderStatusChanged: { id: aliceOrder, status: "SHIPPED" } });
        await aliceSub.stream.return?.();
        await bobSub.stream.return?.();
      });

      test("orderStatusChanged(orderId): only that order; another account's id or an unknown id → NOT_FOUND; anonymous → UNAUTHENTICATED; admins may watch any order", async () => {
        const a = fresh();
        const alice = user();
        const one = await order(alice, a, 1);
        const two = await order(alice, a, 1);
        const codes = async (who: Identity | undefined, orderId: string | null) => {
          const r = await subscribe("order", WATCH, { orderId }, who);
          if (!("result" in r)) throw new Error("expected a refusal");
          return (r.result.errors ?? []).map((e) => e.extensions?.["code"]);
        };
        expect(await codes(undefined, null)).toEqual(["UNAUTHENTICATED"]);
        expect(await codes(user(), one)).toEqual(["NOT_FOUND"]);
        expect(await codes(alice, newId())).toEqual(["NOT_FOUND"]);

        const onlyTwo = await subscribe("order", WATCH, { orderId: two }, alice);
        const adminView = await subscribe("order", WATCH, { orderId: one }, admin);
        if (!("stream" in onlyTwo) || !("stream" in adminView)) throw new Error("expected streams");
        await run(CANCEL, { id: one }, alice);
        await run(CANCEL, { id: two }, alice);
        expect((await onlyTwo.stream.next()).value?.data).toMatchObject({ orderStatusChanged: { id: two, status: "CANCELLED" } });
        expect((await adminView.stream.next()).value?.data).toMatchObject({ orderStatusChanged: { id: one, status: "CANCELLED" } });
        await onlyTwo.stream.return?.();
        await adminView.stream.return?.();
      });

      test("productStockChanged fires on createOrder and on cancel with the new stock; unknown product → NOT_FOUND", async () => {
        const a = fresh();
        const other = fresh();
        const sub = await subscribe("catalog", WATCH_STOCK, { productId: a.id });
        if (!("stream" in sub)) throw new Error(JSON.stringify(sub));
        const who = user();
        await order(who, other, 1); // another product: not delivered
        const id = await order(who, a, 2);
        expect((await sub.stream.next()).value?.data).toEqual({
          productStockChanged: { id: a.id, name: a.name, stock: a.stock - 2, inStock: true },
        });
        await run(CANCEL, { id }, who);
        expect((await sub.stream.next()).value?.data).toEqual({
          productStockChanged: { id: a.id, name: a.name, stock: a.stock, inStock: true },
        });
        await sub.stream.return?.();

        const unknown = await subscribe("catalog", WATCH_STOCK, { productId: newId() });
        expect("result" in unknown && unknown.result.errors?.map((e) => e.extensions?.["code"])).toEqual(["NOT_FOUND"]);
      });

      test("a client leaving ends the server side: its events stop being streamed", async () => {
        const a = fresh();
        const probe = (): void => {
          const event: StockChangedEvent = { eventId: newId(), productId: a.id, stock: a.stock, occurredAt: new Date().toISOString() };
          h.bus.publish(CatalogEvents.stockChanged, new TextEncoder().encode(JSON.stringify(event)));
        };
        const sub = await subscribe("catalog", WATCH_STOCK, { productId: a.id });
        if (!("stream" in sub)) throw new Error("expected a stream");
        probe();
        expect((await sub.stream.next()).value?.data).toMatchObject({ productStockChanged: { id: a.id } });
        await sub.stream.return?.();
        // Every stream message goes to an inbox; after the cancel, a probe event yields none.
        await eventually("no stream message after the cancel", async () => {
          const kinds: (string | undefined)[] = [];
          const spy = h.bus.subscribe("_INBOX.>", (m) => void kinds.push(m.headers["sy-stream"]));
          probe();
          await h.bus.flush();
          await Bun.sleep(20); // a window in which a "next" for the cancelled stream would arrive
          spy.unsubscribe();
          return !kinds.includes("next");
        });
      });
    });
  });
