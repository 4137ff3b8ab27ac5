/**
 * The per-module hand-over on real processes: the admin endpoints of the operations listener
 * (`/admin/modules`, `POST /admin/modules/:name/pause|resume`, module-admin.ts) in the monolith,
 * a query to a paused subgraph that waits on the bus and succeeds once the module serves again
 * (resumed in the monolith; another instance registering in the split topology), and a monolith
 * started with `MODULES=all,-catalog` that runs everything but the catalog.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { opsUrlOf, type SplitProcess } from "../../scripts/split-topology.ts";
import { adminAuth } from "../helpers/admin.ts";
import { startMonolith, startSplitTopology, type Topology } from "../helpers/topology.ts";

type Refusal = { errors?: { message: string; extensions?: { code?: string } }[] };
type ModulesBody = { modules: { name: string; state: string; instanceId: string | null }[] };
type GqlResult = {
  data?: { categories?: { name: string }[] } | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
};

async function admin(t: Topology, opsUrl: string, method: "GET" | "POST", path: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${opsUrl}${path}`, { method, headers: await adminAuth(t) });
  return { status: res.status, body: await res.json() };
}

const categories = (t: Topology): Promise<GqlResult> =>
  fetch(t.graphqlUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: "{ categories { name } }" }),
  }).then((r) => r.json() as Promise<GqlResult>);

describe("monolith: pause and resume the catalog through the admin endpoints", () => {
  let t: Topology;
  beforeAll(async () => {
    t = await startMonolith();
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
  });

  test("the endpoints need an admin token", async () => {
    for (const [method, path] of [
      ["GET", "/admin/modules"],
      ["POST", "/admin/modules/catalog/pause"],
      ["POST", "/admin/modules/catalog/resume"],
    ] as const) {
      const res = await fetch(`${t.opsUrl}${path}`, { method });
      expect(res.status).toBe(401);
      expect(((await res.json()) as Refusal).errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    }
    // Not on the public listener.
    expect((await fetch(`${t.baseUrl}/admin/modules`)).status).toBe(404);
  });

  test("list, 404 for an unknown module, pause (409 twice), a query waits while paused and is answered after resume (409 twice)", async () => {
    const listed = (await admin(t, t.opsUrl, "GET", "/admin/modules")).body as ModulesBody;
    expect(listed.modules.map((m) => [m.name, m.state])).toEqual([
      ["account", "running"],
      ["catalog", "running"],
      ["payment", "running"],
      ["order", "running"],
    ]);
    expect(listed.modules.every((m) => typeof m.instanceId === "string")).toBe(true);

    const unknown = await admin(t, t.opsUrl, "POST", "/admin/modules/billing/pause");
    expect(unknown.status).toBe(404);
    expect((unknown.body as Refusal).errors?.[0]?.extensions?.code).toBe("UNKNOWN_MODULE");

    const paused = await admin(t, t.opsUrl, "POST", "/admin/modules/catalog/pause");
    expect(paused).toEqual({ status: 200, body: { module: { name: "catalog", state: "paused", instanceId: null, drained: true } } });
    const again = await admin(t, t.opsUrl, "POST", "/admin/modules/catalog/pause");
    expect(again.status).toBe(409);
    expect((again.body as Refusal).errors?.[0]?.extensions?.code).toBe("ALREADY_PAUSED");

    // The other modules keep serving; a query touching the catalog waits on the bus.
    const started = performance.now();
    const waiting = categories(t);
    await Bun.sleep(500);
    const resumed = await admin(t, t.opsUrl, "POST", "/admin/modules/catalog/resume");
    expect(resumed.status).toBe(200);
    expect((resumed.body as { module: { state: string } }).module.state).toBe("running");
    const r = await waiting;
    expect(r.errors).toBeUndefined();
    expect(r.data?.categories?.length).toBeGreaterThan(0);
    expect(performance.now() - started).toBeGreaterThanOrEqual(500);

    const notPaused = await admin(t, t.opsUrl, "POST", "/admin/modules/catalog/resume");
    expect(notPaused.status).toBe(409);
    expect((notPaused.body as Refusal).errors?.[0]?.extensions?.code).toBe("NOT_PAUSED");
    expect(((await admin(t, t.opsUrl, "GET", "/admin/modules")).body as ModulesBody).modules.every((m) => m.state === "running")).toBe(
      true,
    );
  }, 60_000);
});

describe("monolith with MODULES=all,-catalog", () => {
  let t: Topology;
  beforeAll(async () => {
    t = await startMonolith({ env: { MODULES: "all,-catalog" } });
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
  });

  test("runs every module but the catalog", async () => {
    const listed = (await admin(t, t.opsUrl, "GET", "/admin/modules")).body as ModulesBody;
    expect(listed.modules.map((m) => m.name)).toEqual(["account", "payment", "order"]);
    const pause = await admin(t, t.opsUrl, "POST", "/admin/modules/catalog/pause");
    expect(pause.status).toBe(404);
    expect(t.output()).not.toContain("module catalog started");
    expect(t.output()).toContain("module order started");
  });
});

describe("split: a query to a paused subgraph waits and is answered by another instance", () => {
  let t: Awaited<ReturnType<typeof startSplitTopology>>;
  beforeAll(async () => {
    t = await startSplitTopology();
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
  });

  test("pause the catalog process's module; the waiting query completes once a second catalog registers", async () => {
    expect((await categories(t)).errors).toBeUndefined();
    const version = async () => ((await admin(t, t.opsUrl, "GET", "/admin/supergraph")).body as { version: number | null }).version;
    const before = await version();
    const catalog = t.split.processes.find((p) => p.part === "catalog") as SplitProcess;
    const ops = opsUrlOf(catalog);
    const paused = await admin(t, ops, "POST", "/admin/modules/catalog/pause");
    expect(paused).toEqual({ status: 200, body: { module: { name: "catalog", state: "paused", instanceId: null, drained: true } } });
    const waiting = categories(t);
    await Bun.sleep(500);
    await t.split.spawn("catalog", "catalog-2");
    const r = await waiting;
    expect(r.errors).toBeUndefined();
    expect(r.data?.categories?.length).toBeGreaterThan(0);
    // The supergraph kept the catalog while it had no instance: no new composition, no validation error.
    const after = await categories(t);
    expect(after.errors).toBeUndefined();
    expect(await version()).toBe(before);
  }, 120_000);
});
