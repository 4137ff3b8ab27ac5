import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { encodeJson } from "../../src/kernel/bus/codec.ts";
import type { Msg } from "../../src/kernel/bus/types.ts";
import { AppError } from "../../src/kernel/errors.ts";
import { REQUEST_ID_HEADER } from "../../src/kernel/identity.ts";
import { newId } from "../../src/kernel/ids.ts";
import {
  CatalogEvents,
  CatalogSubjects,
  type ReleaseStockReply,
  type ReserveStockReply,
  type StockChangedEvent,
} from "../../src/modules/catalog/contract/index.ts";
import { catalogModule } from "../../src/modules/catalog/module.ts";
import {
  OrderEvents,
  type OrderCreatedEvent,
  type OrderStatusChangedEvent,
  type OrderStatusName,
} from "../../src/modules/order/contract/events.ts";
import { DATABASES, openProbe, usePostgres, type DbProbe } from "../helpers/databases.ts";
import { startModules, type ModuleHarness } from "../helpers/modules.ts";
import { eventually } from "../helpers/eventually.ts";

/** Stock reservation over the bus: reserve, release, commit on order.status_changed PAID, release on CANCELLED, events, races. */

usePostgres();

interface P {
  id: string;
  name: string;
  stock: number;
  price: { cents: number; currency: string };
}

for (const dbKind of DATABASES)
  describe(`catalog stock [${dbKind}]`, () => {
    let h: ModuleHarness;
    let byName: Map<string, P>;
    /** Second connection to the module's database, to observe what events did. */
    let db: DbProbe;
    const events: { event: StockChangedEvent; headers: Record<string, string> }[] = [];

    const UNKNOWN = "2ZZZZZZZZZZZZZZZZZZZZZZZZZZ";

    const product = (name: string): P => {
      const p = byName.get(name);
      if (!p) throw new Error(`no product ${name}`);
      return p;
    };
    async function stockOf(id: string): Promise<number> {
      const r = await h.query<{ product: { stock: number } }>("catalog", "query($id: ID!) { product(id: $id) { stock } }", { id });
      if (!r.data?.product) throw new Error(JSON.stringify(r.errors));
      return r.data.product.stock;
    }
    const reserve = (body: unknown, headers?: Record<string, string>) =>
      h.call<ReserveStockReply>(CatalogSubjects.reserveStock, body, headers);
    const release = (reservationId: string) => h.call<ReleaseStockReply>(CatalogSubjects.releaseStock, { reservationId });

    /** Awaits a rejection and returns the AppError (fails the test on success or another error). */
    async function failure(p: Promise<unknown>): Promise<AppError> {
      try {
        await p;
      } catch (err) {
        if (err instanceof AppError) return err;
        throw err;
      }
      throw new Error("expected the call to fail");
    }

    const statusOf = async (reservationId: string): Promise<string | undefined> =>
      (await db.get<{ status: string }>("SELECT status FROM reservations WHERE id = ?", reservationId))?.status;

    function orderCreated(reservationId: string, eventId = newId()): OrderCreatedEvent {
      return {
        eventId,
        orderId: reservationId,
        accountId: newId(),
        reservationId,
        items: [],
        totalCents: 0,
        currency: "USD",
        createdAt: new Date().toISOString(),
      };
    }
    function statusChanged(orderId: string, status: OrderStatusName, eventId = newId()): OrderStatusChangedEvent {
      return { eventId, orderId, accountId: newId(), status, previousStatus: "PENDING", at: new Date().toISOString() };
    }
    const eventsFor = (productId: string) => events.filter((e) => e.event.productId === productId).map((e) => e.event);

    beforeAll(async () => {
      h = await startModules([catalogModule], { seed: true }, { database: dbKind });
      const r = await h.query<{ products: { edges: { node: P }[] } }>(
        "catalog",
        "{ products(first: 100) { edges { node { id name stock price { cents currency } } } } }",
      );
      byName = new Map((r.data?.products.edges ?? []).map((e) => [e.node.name, e.node]));
      db = openProbe(h.database("catalog"));
      h.bus.subscribe(CatalogEvents.stockChanged, (m: Msg) => {
        events.push({ event: m.json<StockChangedEvent>(), headers: m.headers });
      });
    });
    afterAll(async () => {
      await db.close();
      await h.stop();
    });

    describe("reserve", () => {
      test("decrements stock and returns unit prices, in request order", async () => {
        const a = product("Cast Iron Skillet");
        const b = product("Chef's Knife");
        const id = newId();
        const reply = await reserve({
          reservationId: id,
          items: [
            { productId: a.id, quantity: 2 },
            { productId: b.id, quantity: 1 },
          ],
        });
        expect(reply).toEqual({
          reservationId: id,
          items: [
            { productId: a.id, quantity: 2, unitPriceCents: a.price.cents, currency: "USD" },
            { productId: b.id, quantity: 1, unitPriceCents: b.price.cents, currency: "USD" },
          ],
        });
        expect(await stockOf(a.id)).toBe(a.stock - 2);
        expect(await stockOf(b.id)).toBe(b.stock - 1);
        expect(await statusOf(id)).toBe("held");
      });

      test("OUT_OF_STOCK: nothing is reserved, details name the product", async () => {
        const a = product("Digital Kitchen Scale");
        const b = product("Ultralight Backpacking Tent");
        const id = newId();
        const err = await failure(
          reserve({
            reservationId: id,
            items: [
              { productId: a.id, quantity: 3 },
              { productId: b.id, quantity: b.stock + 1 },
            ],
          }),
        );
        expect(err.code).toBe("OUT_OF_STOCK");
        expect(err.details).toEqual({ productId: b.id, requested: b.stock + 1, available: b.stock });
        expect(await stockOf(a.id)).toBe(a.stock);
        expect(await stockOf(b.id)).toBe(b.stock);
        expect(await statusOf(id)).toBeUndefined();
        // The id was not consumed: a satisfiable retry succeeds.
        await reserve({ reservationId: id, items: [{ productId: a.id, quantity: 3 }] });
        expect(await stockOf(a.id)).toBe(a.stock - 3);
      });

      test("NOT_FOUND: nothing is reserved, details name the product", async () => {
        const a = product("Silicone Spatula Set");
        const err = await failure(
          reserve({
            reservationId: newId(),
            items: [
              { productId: a.id, quantity: 1 },
              { productId: UNKNOWN, quantity: 1 },
            ],
          }),
        );
        expect(err.code).toBe("NOT_FOUND");
        expect(err.details).toEqual({ productId: UNKNOWN });
        expect(await stockOf(a.id)).toBe(a.stock);
      });

      test("BAD_REQUEST for requests not of the contract's shape, BAD_USER_INPUT for broken rules; stock untouched", async () => {
        const a = product("Monitor Arm");
        const item = { productId: a.id, quantity: 1 };
        // Not the shape of the contract's schema: refused by the kernel before the handler.
        const malformed: unknown[] = [
          null,
          "reserve",
          { items: [item] },
          { reservationId: newId() },
          { reservationId: newId(), items: "all" },
          { reservationId: newId(), items: [{ quantity: 1 }] },
          { reservationId: newId(), items: [{ productId: a.id, quantity: 1.5 }] },
          { reservationId: newId(), items: [{ productId: a.id, quantity: "1" }] },
          { reservationId: newId(), items: [{ productId: a.id }] },
        ];
        for (const body of malformed) {
          const err = await failure(reserve(body));
          expect({ body, code: err.code }).toEqual({ body, code: "BAD_REQUEST" });
        }
        // The right shape, against the catalog's rules.
        const invalid: unknown[] = [
          { reservationId: "", items: [item] },
          { reservationId: newId(), items: [] },
          { reservationId: newId(), items: [{ productId: a.id, quantity: 0 }] },
          { reservationId: newId(), items: [{ productId: a.id, quantity: -2 }] },
          { reservationId: newId(), items: [item, { productId: a.id, quantity: 2 }] },
          { reservationId: newId(), items: Array.from({ length: 101 }, (_, i) => ({ productId: `p${i}`, quantity: 1 })) },
        ];
        for (const body of invalid) {
          const err = await failure(reserve(body));
          expect({ body, code: err.code }).toEqual({ body, code: "BAD_USER_INPUT" });
        }
        expect(await stockOf(a.id)).toBe(a.stock);
      });

      test("idempotent per reservationId: a repeat returns the same reservation and decrements once", async () => {
        const a = product("LED Desk Lamp");
        const id = newId();
        const first = await reserve({ reservationId: id, items: [{ productId: a.id, quantity: 2 }] });
        const again = await reserve({ reservationId: id, items: [{ productId: a.id, quantity: 2 }] });
        // Even with different items, the existing reservation wins unchanged.
        const different = await reserve({ reservationId: id, items: [{ productId: a.id, quantity: 5 }] });
        expect(again).toEqual(first);
        expect(different).toEqual(first);
        expect(await stockOf(a.id)).toBe(a.stock - 2);
      });
    });

    describe("release and commit", () => {
      test("release returns the stock once; unknown ids are not released", async () => {
        const a = product("Merino Felt Desk Mat");
        const b = product("Dot Grid Notebook");
        const id = newId();
        await reserve({
          reservationId: id,
          items: [
            { productId: a.id, quantity: 4 },
            { productId: b.id, quantity: 1 },
          ],
        });
        expect(await stockOf(a.id)).toBe(a.stock - 4);
        expect(await release(id)).toEqual({ released: true });
        expect(await stockOf(a.id)).toBe(a.stock);
        expect(await stockOf(b.id)).toBe(b.stock);
        expect(await statusOf(id)).toBe("released");
        expect(await release(id)).toEqual({ released: false });
        expect(await stockOf(a.id)).toBe(a.stock);
        expect(await release(newId())).toEqual({ released: false });
        expect((await failure(h.call(CatalogSubjects.releaseStock, {}))).code).toBe("BAD_REQUEST");
        expect((await failure(h.call(CatalogSubjects.releaseStock, { reservationId: "" }))).code).toBe("BAD_USER_INPUT");
      });

      test("a released reservation id cannot be reserved again (CONFLICT)", async () => {
        const a = product("Cable Management Tray");
        const id = newId();
        await reserve({ reservationId: id, items: [{ productId: a.id, quantity: 1 }] });
        await release(id);
        const err = await failure(reserve({ reservationId: id, items: [{ productId: a.id, quantity: 1 }] }));
        expect(err.code).toBe("CONFLICT");
        expect(await stockOf(a.id)).toBe(a.stock);
      });

      test("release is final: an id released before its reserve arrives can never hold stock (late reserve refused)", async () => {
        const a = product("Cable Management Tray");
        const before = await stockOf(a.id);
        const id = newId();
        // The order gave up and released; its reserve request, delayed on the bus, arrives after.
        expect(await release(id)).toEqual({ released: false });
        const err = await failure(reserve({ reservationId: id, items: [{ productId: a.id, quantity: 2 }] }));
        expect(err.code).toBe("CONFLICT");
        expect(await stockOf(a.id)).toBe(before);
        expect(await statusOf(id)).toBe("released");
        // Concurrent release and reserve of one fresh id: whichever the store orders first, nothing stays held.
        const ids = Array.from({ length: 10 }, () => newId());
        await Promise.allSettled(
          ids.flatMap((rid) => [reserve({ reservationId: rid, items: [{ productId: a.id, quantity: 1 }] }), release(rid)]),
        );
        for (const rid of ids) expect(await statusOf(rid)).toBe("released");
        expect(await stockOf(a.id)).toBe(before);
      });

      test("order.created leaves the reservation held (a PENDING order can still be cancelled)", async () => {
        const a = product("Resistance Band Set");
        const id = newId();
        await reserve({ reservationId: id, items: [{ productId: a.id, quantity: 1 }] });
        h.bus.publish(OrderEvents.created, encodeJson(orderCreated(id)));
        // A later event on the same consumer path proves the first one was seen (and ignored).
        const marker = newId();
        await reserve({ reservationId: marker, items: [{ productId: a.id, quantity: 1 }] });
        h.bus.publish(OrderEvents.statusChanged, encodeJson(statusChanged(marker, "PAID")));
        await eventually('(await statusOf(marker)) === "committed"', async () => (await statusOf(marker)) === "committed");
        expect(await statusOf(id)).toBe("held");
        expect(await release(id)).toEqual({ released: true });
        expect(await stockOf(a.id)).toBe(a.stock - 1);
      });

      test("order.status_changed PAID commits the reservation: release then returns false and stock stays sold", async () => {
        const a = product("Natural Rubber Yoga Mat");
        const id = newId();
        await reserve({ reservationId: id, items: [{ productId: a.id, quantity: 3 }] });
        h.bus.publish(OrderEvents.statusChanged, encodeJson(statusChanged(id, "PAID")));
        await eventually('(await statusOf(id)) === "committed"', async () => (await statusOf(id)) === "committed");
        expect(await release(id)).toEqual({ released: false });
        expect(await stockOf(a.id)).toBe(a.stock - 3);
        // Reserving a committed id again is an idempotent repeat.
        expect((await reserve({ reservationId: id, items: [{ productId: a.id, quantity: 3 }] })).items[0]?.quantity).toBe(3);
        expect(await stockOf(a.id)).toBe(a.stock - 3);
      });

      test("order.status_changed PAYMENT_FAILED releases a held reservation (a failed order can never be paid)", async () => {
        const a = product("Stainless Steel Hand Trowel");
        const id = newId();
        await reserve({ reservationId: id, items: [{ productId: a.id, quantity: 1 }] });
        expect(await stockOf(a.id)).toBe(a.stock - 1);
        h.bus.publish(OrderEvents.statusChanged, encodeJson(statusChanged(id, "PAYMENT_FAILED")));
        await eventually('(await statusOf(id)) === "released"', async () => (await statusOf(id)) === "released");
        expect(await stockOf(a.id)).toBe(a.stock);
      });

      test("order.status_changed CANCELLED releases a held reservation once and announces the stock; PAYMENT_FAILED before it does not release twice", async () => {
        const a = product("Stainless Steel Hand Trowel");
        const id = newId();
        await reserve({ reservationId: id, items: [{ productId: a.id, quantity: 2 }] });
        h.bus.publish(OrderEvents.statusChanged, encodeJson(statusChanged(id, "PAYMENT_FAILED")));
        h.bus.publish(OrderEvents.statusChanged, encodeJson(statusChanged(id, "CANCELLED")));
        h.bus.publish(OrderEvents.statusChanged, encodeJson(statusChanged(id, "CANCELLED")));
        await eventually('(await statusOf(id)) === "released"', async () => (await statusOf(id)) === "released");
        await eventually("eventsFor(a.id).some((e) => e.stock === a.stock)", () => eventsFor(a.id).some((e) => e.stock === a.stock));
        expect(await stockOf(a.id)).toBe(a.stock);
        // A PAID after the release cannot commit it: the stock stays returned.
        const paid = newId();
        h.bus.publish(OrderEvents.statusChanged, encodeJson(statusChanged(id, "PAID", paid)));
        await eventually(
          "(await db.get(\"SELECT 1 AS one FROM inbox WHERE consumer = 'catalog.order-status' AND event_id = ?\", paid)) !== undefined",
          async () =>
            (await db.get("SELECT 1 AS one FROM inbox WHERE consumer = 'catalog.order-status' AND event_id = ?", paid)) !== undefined,
        );
        expect(await statusOf(id)).toBe("released");
        expect(await stockOf(a.id)).toBe(a.stock);
      });

      test("order.status_changed CANCELLED is recorded in the inbox with its release; a redelivery changes nothing", async () => {
        const a = product("Stainless Steel Hand Trowel");
        const id = newId();
        await reserve({ reservationId: id, items: [{ productId: a.id, quantity: 1 }] });
        const eventId = newId();
        const inboxed = async () =>
          (await db.get<{ n: number }>("SELECT count(*) AS n FROM inbox WHERE consumer = 'catalog.order-status' AND event_id = ?", eventId))
            ?.n;
        const restocked = () => eventsFor(a.id).filter((e) => e.stock === a.stock).length;
        const restockedBefore = restocked();
        h.bus.publish(OrderEvents.statusChanged, encodeJson(statusChanged(id, "CANCELLED", eventId)));
        await eventually('(await statusOf(id)) === "released"', async () => (await statusOf(id)) === "released");
        // Committed together: once the release is visible, so is the mark.
        expect(await inboxed()).toBe(1);
        // The release's announcement (relayed after the commit).
        await eventually("restocked() === restockedBefore + 1", () => restocked() === restockedBefore + 1);
        const stockChanges = eventsFor(a.id).length;
        h.bus.publish(OrderEvents.statusChanged, encodeJson(statusChanged(id, "CANCELLED", eventId)));
        const marker = newId();
        h.bus.publish(OrderEvents.statusChanged, encodeJson(statusChanged(marker, "PAID", marker)));
        await eventually(
          "(await db.get(\"SELECT 1 AS one FROM inbox WHERE consumer = 'catalog.order-status' AND event_id = ?\", marker)) !== undefined",
          async () =>
            (await db.get("SELECT 1 AS one FROM inbox WHERE consumer = 'catalog.order-status' AND event_id = ?", marker)) !== undefined,
        );
        expect(await inboxed()).toBe(1);
        expect(await stockOf(a.id)).toBe(a.stock);
        expect(eventsFor(a.id).length).toBe(stockChanges);
      });

      test("order.status_changed PAID is deduplicated by eventId", async () => {
        const a = product("Speed Jump Rope");
        const r1 = newId();
        const r2 = newId();
        await reserve({ reservationId: r1, items: [{ productId: a.id, quantity: 1 }] });
        await reserve({ reservationId: r2, items: [{ productId: a.id, quantity: 1 }] });
        const eventId = newId();
        h.bus.publish(OrderEvents.statusChanged, encodeJson(statusChanged(r1, "PAID", eventId)));
        h.bus.publish(OrderEvents.statusChanged, encodeJson(statusChanged(r1, "PAID", eventId)));
        // The memory event stream runs deliveries concurrently: let the first one win before the
        // look-alike below, which would otherwise race it for the event id.
        await eventually('(await statusOf(r1)) === "committed"', async () => (await statusOf(r1)) === "committed");
        // Same event id, other reservation: treated as the already-processed event, not applied.
        h.bus.publish(OrderEvents.statusChanged, encodeJson(statusChanged(r2, "PAID", eventId)));
        // A malformed event is logged and skipped, and does not stop the consumer.
        h.bus.publish(OrderEvents.statusChanged, encodeJson({ nonsense: true }));
        const marker = newId();
        h.bus.publish(OrderEvents.statusChanged, encodeJson(statusChanged(marker, "PAID", marker)));
        await eventually(
          "(await db.get(\"SELECT 1 AS one FROM inbox WHERE consumer = 'catalog.order-status' AND event_id = ?\", marker)) !== undefined",
          async () =>
            (await db.get("SELECT 1 AS one FROM inbox WHERE consumer = 'catalog.order-status' AND event_id = ?", marker)) !== undefined,
        );
        expect(await statusOf(r1)).toBe("committed");
        expect(await statusOf(r2)).toBe("held");
        expect(
          (await db.get<{ n: number }>("SELECT count(*) AS n FROM inbox WHERE consumer = 'catalog.order-status' AND event_id = ?", eventId))
            ?.n,
        ).toBe(1);
        expect(await release(r2)).toEqual({ released: true });
      });
    });

    describe("stock_changed events", () => {
      test("one per product after reserve and release, with the new stock and the request id", async () => {
        const a = product("High-Density Foam Roller");
        const b = product("Cast Iron Kettlebell");
        const id = newId();
        await reserve(
          {
            reservationId: id,
            items: [
              { productId: a.id, quantity: 2 },
              { productId: b.id, quantity: 1 },
            ],
          },
          { [REQUEST_ID_HEADER]: "req-42" },
        );
        await eventually(
          "eventsFor(a.id).length === 1 && eventsFor(b.id).length === 1",
          () => eventsFor(a.id).length === 1 && eventsFor(b.id).length === 1,
        );
        expect(eventsFor(a.id)[0]?.stock).toBe(a.stock - 2);
        expect(eventsFor(b.id)[0]?.stock).toBe(b.stock - 1);
        const mine = events.filter((e) => e.event.productId === a.id || e.event.productId === b.id);
        for (const e of mine) {
          expect(e.headers[REQUEST_ID_HEADER]).toBe("req-42");
          expect(e.event.eventId).toMatch(/^[0-9A-Za-z]{27}$/);
          expect(new Date(e.event.occurredAt).toISOString()).toBe(e.event.occurredAt);
        }
        expect(new Set(mine.map((e) => e.event.eventId)).size).toBe(2);

        // Repeats and failures change nothing, so they announce nothing.
        await reserve({ reservationId: id, items: [{ productId: a.id, quantity: 2 }] });
        await failure(
          reserve({
            reservationId: newId(),
            items: [
              { productId: a.id, quantity: 1 },
              { productId: UNKNOWN, quantity: 1 },
            ],
          }),
        );
        await release(id);
        await release(id);
        await eventually(
          "eventsFor(a.id).length >= 2 && eventsFor(b.id).length >= 2",
          () => eventsFor(a.id).length >= 2 && eventsFor(b.id).length >= 2,
        );
        await h.bus.flush();
        await Bun.sleep(20); // a window in which no extra stock event may follow
        expect(eventsFor(a.id).map((e) => e.stock)).toEqual([a.stock - 2, a.stock]);
        expect(eventsFor(b.id).map((e) => e.stock)).toEqual([b.stock - 1, b.stock]);
      });
    });

    describe("concurrency", () => {
      test("50 concurrent reservations of 1 unit, stock 10: exactly 10 sold, 40 OUT_OF_STOCK, never negative", async () => {
        const mug = product("Limited Edition Enamel Camp Mug");
        expect(mug.stock).toBe(10);
        const results = await Promise.allSettled(
          Array.from({ length: 50 }, () => reserve({ reservationId: newId(), items: [{ productId: mug.id, quantity: 1 }] })),
        );
        const ok = results.filter((r) => r.status === "fulfilled");
        const failed = results.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
        expect(ok).toHaveLength(10);
        expect(failed).toHaveLength(40);
        for (const err of failed) {
          expect(err).toBeInstanceOf(AppError);
          expect((err as AppError).code).toBe("OUT_OF_STOCK");
          expect((err as AppError).details).toEqual({ productId: mug.id, requested: 1, available: 0 });
        }
        expect(await stockOf(mug.id)).toBe(0);
        expect((await db.get<{ n: number }>("SELECT count(*) AS n FROM reservation_items WHERE product_id = ?", mug.id))?.n).toBe(10);
        await eventually("eventsFor(mug.id).length === 10", () => eventsFor(mug.id).length === 10);
        expect(
          eventsFor(mug.id)
            .map((e) => e.stock)
            .sort((x, y) => x - y),
        ).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      });

      test("50 concurrent reservations of 3 units, stock 10: 3 succeed, 1 unit left", async () => {
        const p = product("Adjustable Dumbbells");
        expect(p.stock).toBe(10);
        const results = await Promise.allSettled(
          Array.from({ length: 50 }, () => reserve({ reservationId: newId(), items: [{ productId: p.id, quantity: 3 }] })),
        );
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(3);
        const codes = results.flatMap((r) => (r.status === "rejected" ? [(r.reason as AppError).code] : []));
        expect(codes).toEqual(Array.from({ length: 47 }, () => "OUT_OF_STOCK"));
        expect(await stockOf(p.id)).toBe(1);
      });

      test("concurrent releases of one reservation return its stock once", async () => {
        const p = product("Ergonomic Office Chair");
        const id = newId();
        await reserve({ reservationId: id, items: [{ productId: p.id, quantity: 4 }] });
        const replies = await Promise.all(Array.from({ length: 20 }, () => release(id)));
        expect(replies.filter((r) => r.released)).toHaveLength(1);
        expect(await stockOf(p.id)).toBe(p.stock);
      });
    });
  });
