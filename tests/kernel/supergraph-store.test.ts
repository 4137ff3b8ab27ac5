/**
 * Supergraph stores: one suite of shared cases run against the memory store and against the etcd
 * store on a real etcd, then what only etcd does (key layout, lease loss, restart).
 *
 * Each test gets a fresh "cluster" (a new memory backend, or a new etcd key prefix) and may open
 * several clients on it; clients are closed after each test.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { Etcd3 } from "etcd3";
import { startEtcd, type EtcdServer } from "../../scripts/devservers/etcd.ts";
import { createEtcdClient } from "../../src/kernel/etcd/client.ts";
import { createEtcdRegistry } from "../../src/kernel/registry/etcd.ts";
import { campaignUntilElected } from "../../src/kernel/supergraph-store/election.ts";
import { createEtcdSupergraphStore } from "../../src/kernel/supergraph-store/etcd.ts";
import { createMemorySupergraphBackend, createMemorySupergraphStore } from "../../src/kernel/supergraph-store/memory.ts";
import type { Leadership, StoredSupergraph, SupergraphStore } from "../../src/kernel/supergraph-store/types.ts";
import { eventually } from "../helpers/eventually.ts";

/** Resolves to the rejection reason; fails if the promise resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected the promise to reject");
}

/** Tracks whether a promise settled, without awaiting it. */
function track<T>(promise: Promise<T>): { settled: () => boolean; value: () => T | undefined } {
  let done = false;
  let value: T | undefined;
  promise.then(
    (v) => {
      done = true;
      value = v;
    },
    () => {
      done = true;
    },
  );
  return { settled: () => done, value: () => value };
}

/** Returns a function opening clients of one fresh, shared store. */
type NewCluster = () => () => Promise<SupergraphStore>;

function supergraphStoreSuite(name: string, newCluster: NewCluster): void {
  describe(`supergraph store: ${name}`, () => {
    const opened: SupergraphStore[] = [];
    let connect: () => Promise<SupergraphStore> = async () => {
      throw new Error("no cluster");
    };

    async function open(): Promise<SupergraphStore> {
      const store = await connect();
      opened.push(store);
      return store;
    }

    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
      connect = newCluster();
    });
    // The first test needs a cluster too (afterEach makes the ones after it).
    beforeAll(() => {
      connect = newCluster();
    });

    test("starts empty; publish increments versions and moves current", async () => {
      const store = await open();
      expect(store.kind.length).toBeGreaterThan(0);
      expect(await store.current()).toBeNull();
      const before = Date.now();
      const v1 = await store.publish("type Query { a: Int }", { a: "h1" });
      expect(v1.version).toBe(1);
      expect(v1.sdl).toBe("type Query { a: Int }");
      expect(v1.subgraphs).toEqual({ a: "h1" });
      expect(Date.parse(v1.composedAt)).toBeGreaterThanOrEqual(before - 1000);
      const v2 = await store.publish("type Query { b: Int }", { a: "h1", b: "h2" });
      expect(v2.version).toBe(2);
      expect(await store.current()).toEqual(v2);
      const other = await open();
      expect((await other.publish("type Query { c: Int }", {})).version).toBe(3);
      expect((await store.current())?.version).toBe(3);
    });

    test("publish rejects an empty SDL", async () => {
      const store = await open();
      expect(await rejection(store.publish("", {}))).toBeInstanceOf(Error);
      expect(await store.current()).toBeNull();
    });

    test("records are copies", async () => {
      const store = await open();
      const subgraphs = { a: "h1" };
      const rec = await store.publish("type Query { a: Int }", subgraphs);
      subgraphs.a = "mutated";
      rec.subgraphs["a"] = "mutated";
      const cur = await store.current();
      expect(cur?.subgraphs).toEqual({ a: "h1" });
      cur!.subgraphs["a"] = "mutated";
      expect((await store.current())?.subgraphs).toEqual({ a: "h1" });
    });

    test("watch sees versions published later (by any client), not the value at call time; unwatch stops", async () => {
      const reader = await open();
      const writer = await open();
      await writer.publish("type Query { a: Int }", {});
      await reader.current();
      const seen: StoredSupergraph[] = [];
      const stop = reader.watch((s) => void seen.push(s));
      await writer.publish("type Query { b: Int }", { b: "h" });
      await reader.publish("type Query { c: Int }", {});
      await eventually("versions 2 and 3", () => seen.length === 2);
      expect(seen.map((s) => s.version)).toEqual([2, 3]);
      expect(seen[0]?.subgraphs).toEqual({ b: "h" });
      stop();
      stop();
      const sentinel: number[] = [];
      reader.watch((s) => void sentinel.push(s.version));
      await writer.publish("type Query { d: Int }", {});
      await eventually("version 4 on the second watch", () => sentinel.length === 1);
      expect(seen.map((s) => s.version)).toEqual([2, 3]);
    });

    test("a throwing watch callback does not stop the other watchers", async () => {
      const store = await open();
      const seen: number[] = [];
      store.watch(() => {
        throw new Error("callback bug");
      });
      store.watch((s) => void seen.push(s.version));
      await store.publish("type Query { a: Int }", {});
      await store.publish("type Query { b: Int }", {});
      await eventually("both versions on the second watcher", () => seen.length === 2);
      expect(seen).toEqual([1, 2]);
    });

    test("concurrent publishes from several clients get distinct versions", async () => {
      const stores = [await open(), await open(), await open()];
      const results = await Promise.all(
        stores.flatMap((s, i) => [s.publish(`type Query { s${i}a: Int }`, {}), s.publish(`type Query { s${i}b: Int }`, {})]),
      );
      expect(results.map((r) => r.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
      const cur = await stores[0]!.current();
      expect(cur?.version).toBe(6);
      expect(cur?.sdl).toBe(results.find((r) => r.version === 6)?.sdl);
    });

    test("exactly one of two campaigners leads; the second takes over after resign", async () => {
      const a = await open();
      const b = await open();
      const leaderA = await a.campaign("aggregator", "A");
      expect(leaderA.leading).toBe(true);
      let lostA = false;
      leaderA.onLost(() => {
        lostA = true;
      });
      const pendingB = track(b.campaign("aggregator", "B"));
      await Bun.sleep(200); // a window in which B must NOT be elected while A leads
      expect(pendingB.settled()).toBe(false);

      await leaderA.resign();
      expect(leaderA.leading).toBe(false);
      await eventually("B to lead after A resigned", () => pendingB.settled());
      const leaderB = pendingB.value() as Leadership;
      expect(leaderB.leading).toBe(true);
      expect(lostA).toBe(false);
      await leaderB.resign();
      await leaderB.resign();
    });

    test("the second campaigner takes over when the leader's client is closed", async () => {
      const a = await open();
      const b = await open();
      await a.campaign("aggregator", "A");
      const pendingB = track(b.campaign("aggregator", "B"));
      await Bun.sleep(100); // a window in which B must NOT be elected while A leads
      expect(pendingB.settled()).toBe(false);
      await a.close();
      await eventually("B to lead after A's client closed", () => pendingB.settled());
      expect((pendingB.value() as Leadership).leading).toBe(true);
    });

    test("elections with different names are independent", async () => {
      const a = await open();
      const b = await open();
      const x = await a.campaign("x", "A");
      const y = await b.campaign("y", "B");
      expect([x.leading, y.leading]).toEqual([true, true]);
    });

    test("a pending campaign rejects when its client closes; a closed store rejects calls", async () => {
      const a = await open();
      const b = await open();
      await a.campaign("aggregator", "A");
      const pendingB = b.campaign("aggregator", "B");
      await Bun.sleep(50); // lets B's campaign get under way (no API tells "waiting"); the close must reject it either way
      await b.close();
      expect(await rejection(pendingB)).toBeInstanceOf(Error);
      expect(await rejection(b.campaign("aggregator", "B2"))).toBeInstanceOf(Error);
      expect(await rejection(b.publish("type Query { a: Int }", {}))).toBeInstanceOf(Error);
      expect(await rejection(b.current())).toBeInstanceOf(Error);
      expect(typeof b.watch(() => {})).toBe("function");
    });
  });
}

supergraphStoreSuite("memory", () => {
  const backend = createMemorySupergraphBackend();
  return async () => createMemorySupergraphStore({ backend });
});

let etcd: EtcdServer;
let admin: Etcd3;
const RUN = `/sy-test-${crypto.randomUUID().slice(0, 8)}`;
let clusterSeq = 0;

beforeAll(async () => {
  etcd = await startEtcd();
  admin = new Etcd3({ hosts: [etcd.url] });
}, 30_000);

afterAll(async () => {
  admin?.close();
  await etcd?.stop();
});

supergraphStoreSuite("etcd", () => {
  const prefix = `${RUN}/c${++clusterSeq}`;
  return () => createEtcdSupergraphStore({ hosts: [etcd.url], prefix, ttlS: 2 });
});

describe("etcd supergraph store specifics", () => {
  const opened: SupergraphStore[] = [];
  const logs: string[] = [];
  const logger = {
    info: (_obj: object, msg: string) => void logs.push(msg),
    warn: (_obj: object, msg: string) => void logs.push(msg),
  };
  let prefix = "";

  async function open(): Promise<SupergraphStore> {
    const store = await createEtcdSupergraphStore({ hosts: [etcd.url], prefix, ttlS: 2, logger });
    opened.push(store);
    return store;
  }

  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
    logs.length = 0;
  });
  beforeAll(() => {
    prefix = `${RUN}/specifics`;
  });

  test("keys: one per version plus current (same JSON); election keys under <prefix>/election/<name>/", async () => {
    prefix = `${RUN}/layout`;
    const store = await open();
    const v1 = await store.publish("type Query { a: Int }", { a: "h" });
    const v2 = await store.publish("type Query { b: Int }", {});
    const get = async (k: string): Promise<unknown> => JSON.parse((await admin.get(`${prefix}/supergraph/${k}`).string()) ?? "null");
    expect(await get("1")).toEqual(v1);
    expect(await get("2")).toEqual(v2);
    expect(await get("current")).toEqual(v2);
    await store.campaign("aggregator", "cand-1");
    const keys = await admin.getAll().prefix(`${prefix}/election/aggregator/`).keys();
    expect(keys.length).toBe(1);
    expect(await admin.get(keys[0]!).string()).toBe("cand-1");
  });

  test("onLost fires when the leader's lease is revoked, and the other candidate takes over", async () => {
    prefix = `${RUN}/lost`;
    const a = await open();
    const b = await open();
    const leaderA = await a.campaign("aggregator", "A");
    let lost = 0;
    leaderA.onLost(() => lost++);
    const pendingB = track(b.campaign("aggregator", "B"));
    const [key] = await admin.getAll().prefix(`${prefix}/election/aggregator/`).sort("Create", "Ascend").limit(1).keys();
    const lease = (await admin.get(key!).exec()).kvs[0]!.lease;
    await admin.leaseClient.leaseRevoke({ ID: lease });
    await eventually("onLost", () => lost === 1, { timeoutMs: 5000 });
    expect(leaderA.leading).toBe(false);
    await eventually("B to lead", () => pendingB.settled(), { timeoutMs: 5000 });
    expect((pendingB.value() as Leadership).leading).toBe(true);
    expect(logs).toContain("supergraph store: leadership lost");
    await Bun.sleep(50); // a window in which onLost must NOT fire a second time
    expect(lost).toBe(1);
  }, 15_000);

  test("watch keeps delivering across an etcd restart", async () => {
    prefix = `${RUN}/restart`;
    const reader = await open();
    const writer = await open();
    const seen: number[] = [];
    reader.watch((s) => void seen.push(s.version));
    await writer.publish("type Query { a: Int }", {});
    await eventually("version 1", () => seen.length === 1);
    await etcd.restart();
    await eventually(
      "a publish after the restart",
      async () => {
        try {
          await writer.publish("type Query { b: Int }", {});
          return true;
        } catch {
          return false;
        }
      },
      { timeoutMs: 10_000 },
    );
    await eventually("version 2 after the restart", () => seen.length === 2, { timeoutMs: 10_000 });
    expect(seen).toEqual([1, 2]);
  }, 20_000);

  test("registry and store share one etcd client: closing them leaves it open, its owner closes it", async () => {
    prefix = `${RUN}/shared`;
    const client = createEtcdClient({ hosts: [etcd.url] });
    try {
      const registry = await createEtcdRegistry({ client, prefix, ttlS: 2 });
      const store = await createEtcdSupergraphStore({ client, prefix, ttlS: 2 });
      await registry.register({ name: "a", instanceId: "i1", version: "1", subjects: [], sdlHash: "h", metadata: {} });
      await store.publish("type Query { a: Int }", { a: "h" });
      expect((await registry.list()).map((i) => i.instanceId)).toEqual(["i1"]);
      await registry.close();
      // The registry deregistered through the shared client and left it open for the store.
      expect(await admin.getAll().prefix(`${prefix}/services/`).keys()).toEqual([]);
      expect((await store.current())?.version).toBe(1);
      await store.publish("type Query { b: Int }", {});
      await store.close();
      expect(JSON.parse((await client.get(`${prefix}/supergraph/current`).string()) ?? "null")?.version).toBe(2);
    } finally {
      client.close();
    }
  });

  test("campaignUntilElected retries while etcd is down and leads once it answers", async () => {
    prefix = `${RUN}/campaign-retry`;
    const store = await open();
    const failures: string[] = [];
    await etcd.kill();
    let pending: ReturnType<typeof track<Leadership | undefined>>;
    try {
      pending = track(
        campaignUntilElected(store, "aggregator", "A", {
          stopped: () => false,
          retryMs: 100,
          logger: { warn: (_obj, msg) => void failures.push(msg) },
        }),
      );
      await eventually("failed campaigns while etcd is down", () => failures.length >= 2, { timeoutMs: 30_000 });
      expect(pending.settled()).toBe(false);
    } finally {
      await etcd.restart();
    }
    await eventually("the leadership once etcd is back", () => pending.settled(), { timeoutMs: 30_000 });
    expect(pending.value()?.leading).toBe(true);
    expect(failures[0]).toBe("aggregator election failed; retrying");
  }, 90_000);

  test("creating a store fails when etcd is unreachable", async () => {
    expect(await rejection(createEtcdSupergraphStore({ hosts: ["http://127.0.0.1:1"] }))).toBeInstanceOf(Error);
  }, 10_000);
});

describe("campaignUntilElected", () => {
  test("leads at once when nobody else does; gives up when stopped; resigns a leadership won after stop", async () => {
    const backend = createMemorySupergraphBackend();
    const a = createMemorySupergraphStore({ backend });
    const b = createMemorySupergraphStore({ backend });
    try {
      expect(await campaignUntilElected(a, "aggregator", "A", { stopped: () => true })).toBeUndefined();
      let checks = 0;
      // Not stopped before the campaign, stopped once it returns: the leadership is handed back.
      expect(await campaignUntilElected(a, "aggregator", "A", { stopped: () => checks++ > 0 })).toBeUndefined();
      const leader = await campaignUntilElected(b, "aggregator", "B", { stopped: () => false });
      expect(leader?.leading).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
