/**
 * Pausing one module of a running process and handing it over (kernel `modulesControl`,
 * src/kernel/module-control.ts), on a real nats-server + etcd with the catalog's SQLite file:
 * a client keeps sending non-idempotent commands (`createProduct`) while the catalog is paused;
 * they wait on the bus, and a second instance (another kernel on the same database file, as a
 * process on the copied data would be) takes them: each is applied exactly once, none fails.
 * Events move with the data: outbox rows left unsent by the paused instance are published once
 * by the next one, and events published to the catalog while it was paused are handled once
 * by it. On the memory bus, pause and resume in one process.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ExecutionResult } from "graphql";
import { Kernel } from "../../src/kernel/kernel.ts";
import { createTransports, type Transports } from "../../src/kernel/transports.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { createMemoryRegistry } from "../../src/kernel/registry/memory.ts";
import { encodeJson } from "../../src/kernel/bus/codec.ts";
import { requestJson } from "../../src/kernel/bus/rpc.ts";
import { instrumentBus } from "../../src/kernel/bus/instrumented.ts";
import type { Bus } from "../../src/kernel/bus/types.ts";
import { newId } from "../../src/kernel/ids.ts";
import { metricsRegistry } from "../../src/kernel/metrics.ts";
import { MODULE_CONTROL_STATUS, ModuleControlError, type ModuleStatus } from "../../src/kernel/module-control.ts";
import { DRAIN_TIMEOUT, moduleAdminRoutes } from "../../src/kernel/module-admin.ts";
import type { ModuleDefinition } from "../../src/kernel/module.ts";
import { defineCommand } from "../../src/kernel/contract/define.ts";
import { NoRespondersError } from "../../src/kernel/bus/errors.ts";
import { Hono } from "hono";
import { z } from "zod";
import { MODULES } from "../../src/module-list.ts";
import { startEtcd, startNats, type EtcdServer, type NatsServer } from "../../scripts/devservers/index.ts";
import { testConfig, type TestConfig } from "../helpers/modules.ts";
import { eventually } from "../helpers/eventually.ts";

const ADMIN = { accountId: "admin-1", roles: ["customer", "admin"] };
const CREATE_CATEGORY = `mutation($name: String!) { createCategory(name: $name) { id } }`;
const CREATE_PRODUCT = `mutation($input: CreateProductInput!) { createProduct(input: $input) { id name } }`;

async function sample(name: string, labels: Record<string, string>): Promise<number> {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = (await metricsRegistry.metrics()).split("\n").find((l) => l.startsWith(`${name}{`) && want.every((w) => l.includes(w)));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
}
const waitsOnCatalog = () => sample("switchyard_bus_no_responder_waits_total", { subject: "graphql.catalog" });

/** A kernel running the catalog on `transports`. */
async function catalogKernel(config: TestConfig, t: Pick<Transports, "bus" | "registry" | "events" | "supergraphStore">): Promise<Kernel> {
  const kernel = new Kernel({ ...t, config, logger: createLogger({ level: "silent" }) });
  MODULES["catalog"]?.(kernel);
  await kernel.start();
  return kernel;
}

/** Sends GraphQL to the catalog subgraph over `bus` as the gateway does (signed admin identity). */
function gqlVia(bus: Bus, signer: Kernel) {
  return async <T>(query: string, variables: Record<string, unknown>): Promise<ExecutionResult<T>> => {
    const headers = signer.busIdentity.headers(ADMIN, newId());
    const reply = await bus.request("graphql.catalog", encodeJson({ query, variables }), { headers, timeoutMs: 20_000 });
    return reply.json<ExecutionResult<T>>();
  };
}

/**
 * A client sending `total` createProduct commands, `concurrency` at a time; `onSent(n)` after
 * each reply. Resolves with every result.
 */
async function steadyCreates(
  gql: ReturnType<typeof gqlVia>,
  categoryId: string,
  prefix: string,
  total: number,
  concurrency: number,
  onDone: (n: number) => void,
): Promise<ExecutionResult<{ createProduct: { id: string; name: string } }>[]> {
  const results: ExecutionResult<{ createProduct: { id: string; name: string } }>[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      const input = { name: `${prefix}-${i}`, description: "", priceCents: 100, categoryId, stock: 5 };
      results.push(await gql<{ createProduct: { id: string; name: string } }>(CREATE_PRODUCT, { input }));
      onDone(results.length);
      await Bun.sleep(5); // a steady stream, not a burst
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

/** How many products named `<prefix>-<i>` the catalog's SQLite file holds, by name. */
function productsByName(dataDir: string, prefix: string): Map<string, number> {
  const db = new Database(join(dataDir, "catalog.sqlite"), { readonly: true });
  try {
    const rows = db
      .query<{ name: string; n: number }, [string]>("SELECT name, count(*) AS n FROM products WHERE name LIKE ? GROUP BY name")
      .all(`${prefix}-%`);
    return new Map(rows.map((r) => [r.name, r.n]));
  } finally {
    db.close();
  }
}

describe("pause and hand over the catalog on NATS + etcd (SQLite)", () => {
  let nats: NatsServer;
  let etcd: EtcdServer;
  let dataDir: string;
  let config: TestConfig;
  const transports: Transports[] = [];
  const kernels: Kernel[] = [];

  beforeAll(async () => {
    [nats, etcd] = await Promise.all([startNats(), startEtcd()]);
    dataDir = mkdtempSync(join(tmpdir(), "switchyard-pause-"));
    config = testConfig({
      dataDir,
      bus: { kind: "nats", servers: [nats.url] },
      registry: { kind: "etcd", hosts: [etcd.url] },
      modules: ["catalog"],
    });
  });
  afterAll(async () => {
    for (const k of kernels) await k.stop();
    for (const t of transports) await t.close();
    await Promise.all([nats?.stop(), etcd?.stop()]);
    rmSync(dataDir, { recursive: true, force: true });
  });

  const open = async (name: string): Promise<Transports> => {
    const t = await createTransports(config, createLogger({ level: "silent" }), name);
    transports.push(t);
    return t;
  };

  test("commands sent while paused wait and are applied exactly once by the next instance; events move with the data", async () => {
    const first = await catalogKernel(config, await open("catalog-a"));
    kernels.push(first);
    const client = await open("client");
    // The client's requests go through the kernel's instrumented bus (what modules and the gateway use).
    const gql = gqlVia(instrumentBus(client.bus), first);
    const category = await gql<{ createCategory: { id: string } }>(CREATE_CATEGORY, { name: `pause-${newId()}` });
    const categoryId = category.data?.createCategory.id as string;
    expect(categoryId).toBeTruthy();

    // Held reservations, committed later by order.status_changed events sent while the catalog is paused.
    const held = await gql<{ createProduct: { id: string } }>(CREATE_PRODUCT, {
      input: { name: "held-stock", description: "", priceCents: 100, categoryId, stock: 100 },
    });
    const heldProduct = held.data?.createProduct.id as string;
    const reservations = Array.from({ length: 5 }, () => newId());
    for (const reservationId of reservations)
      await requestJson(instrumentBus(client.bus), "catalog.stock.reserve", {
        reservationId,
        items: [{ productId: heldProduct, quantity: 1 }],
      });

    // The order module's stream (its process would declare it), for the events sent while the catalog is paused.
    await client.events.declare("order", ["order.created", "order.status_changed"]);
    // Every catalog.product_changed event as a JetStream consumer of its own sees it.
    const seen = new Map<string, number>();
    await client.events.consume("catalog.product_changed", async (m) => void seen.set(m.eventId, (seen.get(m.eventId) ?? 0) + 1), {
      durable: "pause-probe",
    });

    const TOTAL = 60;
    const waitsBefore = await waitsOnCatalog();
    const consumedBefore = await sample("switchyard_events_consumed_total", {
      subject: "order.status_changed",
      consumer: "catalog",
      outcome: "ok",
    });
    let pauseAt: (() => void) | undefined;
    const reachedPausePoint = new Promise<void>((resolve) => (pauseAt = resolve));
    const load = steadyCreates(gql, categoryId, "load", TOTAL, 4, (n) => n === 15 && pauseAt?.());
    await reachedPausePoint;

    const paused = await first.modulesControl.pause("catalog");
    expect(paused).toEqual({ name: "catalog", state: "paused", instanceId: null, drained: true });
    expect(await client.registry.list("catalog")).toEqual([]);
    await expect(first.modulesControl.pause("catalog")).rejects.toMatchObject({ code: "ALREADY_PAUSED" });
    await expect(first.modulesControl.pause("billing")).rejects.toBeInstanceOf(ModuleControlError);

    // Requests now wait on the bus for a responder.
    await eventually("creates waiting for a catalog responder", async () => (await waitsOnCatalog()) > waitsBefore, { timeoutMs: 5000 });
    // While paused (store closed): events to the catalog, and the outbox as a crash would leave it.
    const statusEvents = reservations.map((orderId) => ({
      eventId: newId(),
      orderId,
      accountId: "acc-1",
      status: "PAID",
      previousStatus: "PENDING",
      at: new Date().toISOString(),
    }));
    for (const e of statusEvents) await client.events.publish("order.status_changed", encodeJson(e), { eventId: e.eventId });
    const db = new Database(join(dataDir, "catalog.sqlite"));
    // Published but not marked sent (the mark's commit lost): must not reach consumers twice.
    db.run(
      "UPDATE outbox SET sent_at = NULL WHERE seq IN (SELECT seq FROM outbox WHERE subject = 'catalog.product_changed' ORDER BY seq DESC LIMIT 3)",
    );
    // Never published (the relay stopped before its pass): must be published once.
    const unsentId = newId();
    db.run("INSERT INTO outbox (event_id, subject, payload, headers, created_at) VALUES (?, 'catalog.product_changed', ?, '{}', ?)", [
      unsentId,
      JSON.stringify({ eventId: unsentId, productId: heldProduct, change: "updated", at: new Date().toISOString() }),
      new Date().toISOString(),
    ]);
    db.close();
    await Bun.sleep(300); // the paused instance must take nothing meanwhile
    expect(productsByName(dataDir, "load").size).toBeLessThan(TOTAL);

    // The next instance (same database file) registers and takes the waiting requests.
    const second = await catalogKernel(config, await open("catalog-b"));
    kernels.push(second);
    const results = await load;
    expect(results.filter((r) => r.errors !== undefined)).toEqual([]);
    const byName = productsByName(dataDir, "load");
    expect(byName.size).toBe(TOTAL);
    expect([...byName.values()].every((n) => n === 1)).toBe(true);

    // Outbox: every product_changed event in the table (the re-marked and the unsent included) seen exactly once.
    const ids = new Database(join(dataDir, "catalog.sqlite"), { readonly: true })
      .query<{ event_id: string }, []>("SELECT event_id FROM outbox WHERE subject = 'catalog.product_changed'")
      .all()
      .map((r) => r.event_id);
    expect(ids).toContain(unsentId);
    await eventually("every product_changed event seen", () => ids.every((id) => seen.has(id)), { timeoutMs: 10_000 });
    await Bun.sleep(500); // a duplicate would arrive by now
    expect([...seen.entries()].filter(([, n]) => n !== 1)).toEqual([]);

    // Events published while paused: handled once, by the new instance.
    const committed = () => {
      const d = new Database(join(dataDir, "catalog.sqlite"), { readonly: true });
      try {
        return d
          .query<{ n: number }, []>(
            `SELECT count(*) AS n FROM reservations WHERE status = 'committed' AND id IN (${reservations.map((r) => `'${r}'`).join(",")})`,
          )
          .get()?.n;
      } finally {
        d.close();
      }
    };
    await eventually("reservations committed by the new instance", () => committed() === reservations.length, { timeoutMs: 10_000 });
    const consumed =
      (await sample("switchyard_events_consumed_total", { subject: "order.status_changed", consumer: "catalog", outcome: "ok" })) -
      consumedBefore;
    expect(consumed).toBe(reservations.length);
    expect(first.modulesControl.list()).toEqual([{ name: "catalog", state: "paused", instanceId: null, drained: true }]);
    // The rollback is refused once another instance took over (it may serve another database).
    await expect(first.modulesControl.resume("catalog")).rejects.toMatchObject({ code: "TAKEN_OVER" });
    expect(first.modulesControl.list()[0]?.state).toBe("paused");
    const secondId = second.modulesControl.list()[0]?.instanceId;
    expect((await client.registry.list("catalog")).map((i) => i.instanceId)).toEqual([secondId as string]);
  }, 120_000);
});

describe("pause and resume in one process (memory bus)", () => {
  test("commands sent while paused wait and are applied exactly once after resume", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "switchyard-pause-mem-"));
    const bus = createMemoryBus();
    const registry = createMemoryRegistry();
    const kernel = new Kernel({ bus, registry, config: testConfig({ dataDir }), logger: createLogger({ level: "silent" }) });
    MODULES["catalog"]?.(kernel);
    await kernel.start();
    try {
      const gql = gqlVia(kernel.bus, kernel);
      const category = await gql<{ createCategory: { id: string } }>(CREATE_CATEGORY, { name: "mem" });
      const categoryId = category.data?.createCategory.id as string;
      const waitsBefore = await waitsOnCatalog();
      let pauseAt: (() => void) | undefined;
      const reached = new Promise<void>((resolve) => (pauseAt = resolve));
      const load = steadyCreates(gql, categoryId, "mem", 40, 4, (n) => n === 10 && pauseAt?.());
      await reached;
      expect(await kernel.modulesControl.pause("catalog")).toMatchObject({ state: "paused" });
      expect(await registry.list("catalog")).toEqual([]);
      await eventually("creates waiting", async () => (await waitsOnCatalog()) > waitsBefore, { timeoutMs: 5000 });
      const before = productsByName(dataDir, "mem").size;
      await Bun.sleep(200);
      expect(productsByName(dataDir, "mem").size).toBe(before);
      await expect(kernel.modulesControl.resume("nope")).rejects.toMatchObject({ code: "UNKNOWN_MODULE" });
      expect(await kernel.modulesControl.resume("catalog")).toMatchObject({ state: "running" });
      await expect(kernel.modulesControl.resume("catalog")).rejects.toMatchObject({ code: "NOT_PAUSED" });
      const results = await load;
      expect(results.filter((r) => r.errors !== undefined)).toEqual([]);
      const byName = productsByName(dataDir, "mem");
      expect(byName.size).toBe(40);
      expect([...byName.values()].every((n) => n === 1)).toBe(true);
      expect(await registry.list("catalog")).toHaveLength(1);
    } finally {
      await kernel.stop();
      await bus.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  test("every module of the monolith can be paused and resumed, and stops cleanly after", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "switchyard-pause-all-"));
    const bus = createMemoryBus();
    const registry = createMemoryRegistry();
    const kernel = new Kernel({ bus, registry, config: testConfig({ dataDir }), logger: createLogger({ level: "silent" }) });
    for (const register of Object.values(MODULES)) register(kernel);
    await kernel.start();
    try {
      for (const name of kernel.moduleNames) {
        expect(await kernel.modulesControl.pause(name)).toEqual({ name, state: "paused", instanceId: null, drained: true });
        expect(await registry.list(name)).toEqual([]);
        const resumed = await kernel.modulesControl.resume(name);
        expect(resumed.state).toBe("running");
        expect((await registry.list(name)).map((i) => i.instanceId)).toEqual([resumed.instanceId as string]);
        // It serves again: its subgraph answers the federation SDL query.
        const reply = await kernel.bus.request(`graphql.${name}`, encodeJson({ query: "{ _service { sdl } }" }), { timeoutMs: 5000 });
        expect(reply.json<{ data?: { _service: { sdl: string } } }>().data?._service.sdl).toContain("type Query");
      }
      expect(kernel.modulesControl.list().map((m) => m.state)).toEqual(kernel.moduleNames.map(() => "running"));
    } finally {
      await kernel.stop();
      await bus.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  test("refused before start, and while a pause or resume runs (stable codes)", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "switchyard-pause-state-"));
    const bus = createMemoryBus();
    const kernel = new Kernel({
      bus,
      registry: createMemoryRegistry(),
      config: testConfig({ dataDir }),
      logger: createLogger({ level: "silent" }),
    });
    MODULES["catalog"]?.(kernel);
    try {
      await expect(kernel.modulesControl.pause("catalog")).rejects.toMatchObject({ code: "NOT_STARTED" });
      await kernel.start();
      await expect(kernel.modulesControl.resume("catalog")).rejects.toMatchObject({ code: "NOT_PAUSED" });
      const pausing = kernel.modulesControl.pause("catalog");
      expect(kernel.modulesControl.list()).toEqual([{ name: "catalog", state: "pausing", instanceId: null, drained: false }]);
      await expect(kernel.modulesControl.pause("catalog")).rejects.toMatchObject({ code: "IN_TRANSITION" });
      await expect(kernel.modulesControl.resume("catalog")).rejects.toMatchObject({ code: "IN_TRANSITION" });
      await pausing;
      await expect(kernel.modulesControl.pause("catalog")).rejects.toMatchObject({ code: "ALREADY_PAUSED" });
      const resuming = kernel.modulesControl.resume("catalog");
      await expect(kernel.modulesControl.pause("catalog")).rejects.toMatchObject({ code: "IN_TRANSITION" });
      await expect(kernel.modulesControl.resume("catalog")).rejects.toMatchObject({ code: "IN_TRANSITION" });
      await resuming;
      expect(MODULE_CONTROL_STATUS.IN_TRANSITION).toBe(409);
    } finally {
      await kernel.stop();
      await bus.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/** A module serving `slow.work`, whose handler runs until the test opens `gate`. */
function slowModule(gate: Promise<void>, started: () => void): ModuleDefinition {
  return {
    name: "slow",
    version: "1.0.0",
    dependsOn: [],
    typeDefs: `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])\ntype Query { x: String }`,
    subjects: ["slow.work"],
    publishes: [],
    consumes: [],
    async start(ctx) {
      ctx.serve(SLOW_WORK, async () => {
        started();
        await gate;
        return { done: true };
      });
      return { resolvers: { Query: { x: () => "x" } } };
    },
  };
}
const SLOW_WORK = defineCommand("slow.work", { request: z.object({}), reply: z.object({ done: z.boolean() }) });

/** A started kernel running {@link slowModule} on a memory bus; `open()` lets its handlers end. */
async function slowKernel(overrides: Partial<TestConfig> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "switchyard-pause-slow-"));
  const bus = createMemoryBus();
  const registry = createMemoryRegistry();
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => (open = resolve));
  let onStarted: () => void = () => {};
  const handling = new Promise<void>((resolve) => (onStarted = resolve));
  const kernel = new Kernel({ bus, registry, config: testConfig({ dataDir, ...overrides }), logger: createLogger({ level: "silent" }) });
  kernel.addModule(slowModule(gate, () => onStarted()));
  await kernel.start();
  const cleanup = async () => {
    open();
    await kernel.stop();
    await bus.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { kernel, bus, registry, open: () => open(), handling, cleanup };
}

describe("pause: drain timeout and shutdown races (memory bus)", () => {
  test("a pause whose drain outlasts DRAIN_TIMEOUT_MS reports drained: false (admin: 500 DRAIN_TIMEOUT) until the late work ended", async () => {
    const k = await slowKernel({ drainTimeoutMs: 200 });
    try {
      const inFlight = k.kernel.bus.request("slow.work", encodeJson({}), { timeoutMs: 20_000 });
      await k.handling;
      const app = new Hono();
      moduleAdminRoutes(k.kernel.modulesControl)(app);
      const res = await app.request("/admin/modules/slow/pause", { method: "POST" });
      expect(res.status).toBe(500);
      const body = (await res.json()) as { module: ModuleStatus; errors: { extensions: { code: string } }[] };
      expect(body.errors[0]?.extensions.code).toBe(DRAIN_TIMEOUT);
      expect(body.module).toEqual({ name: "slow", state: "paused", instanceId: null, drained: false });
      expect(k.kernel.modulesControl.list()).toEqual([{ name: "slow", state: "paused", instanceId: null, drained: false }]);
      k.open(); // the late handler ends
      await inFlight.catch(() => undefined);
      await eventually("the late work to end", async () => k.kernel.modulesControl.list()[0]?.drained === true, { timeoutMs: 5000 });
      // A pause that drains in time answers 200 with drained: true.
      await k.kernel.modulesControl.resume("slow");
      const again = await app.request("/admin/modules/slow/pause", { method: "POST" });
      expect(again.status).toBe(200);
      expect(((await again.json()) as { module: ModuleStatus }).module.drained).toBe(true);
    } finally {
      await k.cleanup();
    }
  });

  test("stop() during a pause waits for the pause's drain to end before it returns", async () => {
    const k = await slowKernel({ drainTimeoutMs: 20_000 });
    try {
      const inFlight = k.kernel.bus.request("slow.work", encodeJson({}), { timeoutMs: 20_000 });
      await k.handling;
      const order: string[] = [];
      const pausing = k.kernel.modulesControl.pause("slow").then(() => order.push("paused"));
      const stopping = k.kernel.stop().then(() => order.push("stopped"));
      setTimeout(k.open, 200); // the in-flight request ends a moment later
      await Promise.all([pausing, stopping]);
      expect(order).toEqual(["paused", "stopped"]);
      expect((await inFlight).json()).toEqual({ done: true });
    } finally {
      await k.cleanup();
    }
  });

  test("stop() during a resume leaves nothing running: the resume is refused (NOT_STARTED), no subscription, no registration", async () => {
    const k = await slowKernel();
    try {
      await k.kernel.modulesControl.pause("slow");
      const resuming = k.kernel.modulesControl.resume("slow").catch((e: unknown) => e);
      await k.kernel.stop();
      const err = await resuming;
      expect(err).toBeInstanceOf(ModuleControlError);
      expect((err as ModuleControlError).code).toBe("NOT_STARTED");
      expect(k.kernel.modulesControl.list()[0]?.state).toBe("paused");
      expect(await k.registry.list("slow")).toEqual([]);
      // Nobody serves the module's subjects any more (the raw bus answers "no responders" at once).
      for (const subject of ["slow.work", "graphql.slow"])
        await expect(k.bus.request(subject, encodeJson({}), { timeoutMs: 1000 })).rejects.toBeInstanceOf(NoRespondersError);
    } finally {
      await k.cleanup();
    }
  });
});
