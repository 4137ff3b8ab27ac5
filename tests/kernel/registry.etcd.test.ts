/**
 * The etcd registry against a real etcd (Debian's etcd-server, started on free loopback ports):
 * the registry contract suite, then what only etcd does (leases, process death, outages,
 * reconnect catch-up). Everything lives under a per-run key prefix.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createServer, connect, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { startEtcd, type EtcdServer } from "../../scripts/devservers/etcd.ts";
import { createEtcdRegistry, type EtcdRegistryOptions } from "../../src/kernel/registry/etcd.ts";
import { RegistryError, type Registry, type RegistryEvent, type ServiceInstance } from "../../src/kernel/registry/types.ts";
import { registryContract } from "../contract/registry.contract.ts";
import { eventually } from "../helpers/eventually.ts";

const PREFIX = `/sy-test-${crypto.randomUUID().slice(0, 8)}`;
const FIXTURE = join(import.meta.dir, "../fixtures/etcd-register.ts");

let etcd: EtcdServer;
let admin: Etcd3;

beforeAll(async () => {
  etcd = await startEtcd();
  admin = new Etcd3({ hosts: [etcd.url] });
}, 30_000);

afterAll(async () => {
  admin?.close();
  await etcd?.stop();
});

// Each factory call is a new etcd3 client of the one etcd (the contract's shared-store rule).
registryContract("etcd", () => createEtcdRegistry({ hosts: [etcd.url], prefix: PREFIX }));

/**
 * Resolves to the rejection reason; fails if the promise resolves. (Used instead of
 * `expect(p).rejects`, which hung on some rejections with this Bun version.)
 */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected the promise to reject");
}

function instance(name: string, instanceId: string, extra?: Partial<ServiceInstance>): ServiceInstance {
  return { name, instanceId, version: "1.0.0", subjects: [`graphql.${name}`], sdlHash: "", metadata: { host: "test" }, ...extra };
}

const keyOf = (name: string, instanceId: string): string => `${PREFIX}/services/${name}/${instanceId}`;

/** The lease id a key is attached to ("0" = none), or null when the key does not exist. */
async function leaseOf(key: string): Promise<string | null> {
  const res = await admin.get(key).exec();
  return res.kvs[0]?.lease ?? null;
}

/** Remaining TTL of a lease in seconds; -1 once it expired or was revoked. */
async function leaseTtl(id: string): Promise<number> {
  return Number((await admin.leaseClient.leaseTimeToLive({ ID: id })).TTL);
}

/** A TCP proxy in front of etcd whose connections can be cut, to partition one client. */
async function tcpProxy(targetPort: number): Promise<{ url: string; cut(): void; restore(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let cut = false;
  const server: Server = createServer((downstream) => {
    if (cut) {
      downstream.destroy();
      return;
    }
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(downstream);
    sockets.add(upstream);
    const end = (): void => {
      downstream.destroy();
      upstream.destroy();
      sockets.delete(downstream);
      sockets.delete(upstream);
    };
    for (const s of [downstream, upstream]) {
      s.on("error", end);
      s.on("close", end);
    }
    downstream.pipe(upstream);
    upstream.pipe(downstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    cut() {
      cut = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      cut = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("etcd registry specifics", () => {
  const opened: Registry[] = [];
  let mod = "";
  const logs: string[] = [];
  const logger = {
    info: (_obj: object, msg: string) => void logs.push(msg),
    warn: (_obj: object, msg: string) => void logs.push(msg),
  };

  async function open(opts?: Partial<EtcdRegistryOptions>): Promise<Registry> {
    const registry = await createEtcdRegistry({ hosts: [etcd.url], prefix: PREFIX, logger, ...opts });
    opened.push(registry);
    return registry;
  }

  /** Records this test's events as `type:instanceId`. */
  function record(registry: Registry): string[] {
    const seen: string[] = [];
    registry.watch((e: RegistryEvent) => {
      if (e.instance.name === mod) seen.push(`${e.type}:${e.instance.instanceId}`);
    });
    return seen;
  }

  afterEach(async () => {
    for (const r of opened.splice(0)) await r.close();
    logs.length = 0;
    mod = `m${crypto.randomUUID().slice(0, 8)}`;
  });
  mod = `m${crypto.randomUUID().slice(0, 8)}`;

  test("stores JSON at <prefix>/services/<name>/<instanceId>, each registration under its own lease", async () => {
    const registry = await open();
    expect(registry.kind).toBe("etcd");
    const a = instance(mod, "a", { metadata: { host: "h1", pid: "42", region: "ams" } });
    await registry.register(a);
    await registry.register(instance(mod, "b"));
    const res = await admin.get(keyOf(mod, "a")).exec();
    expect(JSON.parse(res.kvs[0]!.value.toString())).toEqual(a);
    const [leaseA, leaseB] = [await leaseOf(keyOf(mod, "a")), await leaseOf(keyOf(mod, "b"))];
    expect(leaseA).not.toBe("0");
    expect(leaseB).not.toBe("0");
    expect(leaseA).not.toBe(leaseB);
    expect(await leaseTtl(leaseA!)).toBeGreaterThan(0);
  });

  test("malformed instances are rejected with RegistryError", async () => {
    const registry = await open();
    const bad: Array<Partial<ServiceInstance>> = [
      { name: "" },
      { instanceId: "" },
      { name: "a/b" },
      { instanceId: "x/y" },
      { subjects: [1] as unknown as string[] },
      { metadata: { pid: 42 } as unknown as Record<string, string> },
      { version: undefined as unknown as string },
    ];
    for (const extra of bad) {
      expect(await rejection(registry.register(instance(mod, "i", extra)))).toBeInstanceOf(RegistryError);
    }
    const reg = await registry.register(instance(mod, "i"));
    expect(await rejection(reg.update({ subjects: "x" as unknown as string[] }))).toBeInstanceOf(RegistryError);
    expect(await registry.list(mod)).toEqual([instance(mod, "i")]);
  });

  test("registration is exclusive across clients", async () => {
    const [a, b] = [await open(), await open()];
    await a.register(instance(mod, "i1"));
    expect(await rejection(b.register(instance(mod, "i1")))).toBeInstanceOf(RegistryError);
  });

  test("deregister deletes the key and revokes the lease immediately", async () => {
    const registry = await open();
    const reg = await registry.register(instance(mod, "i1"));
    const lease = await leaseOf(keyOf(mod, "i1"));
    await reg.deregister();
    expect(await leaseOf(keyOf(mod, "i1"))).toBeNull();
    expect(await leaseTtl(lease!)).toBe(-1);
    expect(await rejection(reg.update({ version: "2.0.0" }))).toBeInstanceOf(RegistryError);
  });

  test("list and watch skip malformed values under the prefix", async () => {
    const registry = await open();
    const seen = record(registry);
    await admin.put(keyOf(mod, "junk")).value("not json");
    await admin.put(keyOf(mod, "half")).value(JSON.stringify({ name: mod }));
    await registry.register(instance(mod, "ok"));
    await eventually("join of the valid instance", () => seen.length === 1);
    expect(seen).toEqual(["join:ok"]);
    expect((await registry.list(mod)).map((i) => i.instanceId)).toEqual(["ok"]);
    expect(logs.filter((m) => m.includes("malformed")).length).toBeGreaterThan(0);
    await admin.delete().prefix(keyOf(mod, ""));
  });

  test("an instance registered by a process that is SIGKILLed disappears within the lease TTL (2 s)", async () => {
    const observer = await open();
    const child = Bun.spawn([process.execPath, FIXTURE, etcd.url, PREFIX, mod, "child", "2"], {
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      const reader = child.stdout.getReader();
      const { value } = await reader.read();
      expect(new TextDecoder().decode(value)).toStartWith("registered ");
      reader.releaseLock();
      const seen = record(observer);
      const listed = await observer.list(mod);
      expect(listed.map((i) => [i.instanceId, i.metadata["pid"]])).toEqual([["child", String(child.pid)]]);

      child.kill("SIGKILL");
      await child.exited;
      const killedAt = performance.now();
      await eventually("leave after the lease expired", () => seen.includes("leave:child"), { timeoutMs: 6000 });
      const elapsedMs = performance.now() - killedAt;
      // TTL 2 s from the last keepalive (sent every TTL/3) + etcd's 500 ms expiry sweep + slack.
      expect(elapsedMs).toBeLessThan(3500);
      expect(await observer.list(mod)).toEqual([]);
    } finally {
      child.kill("SIGKILL");
    }
  }, 15_000);

  test("a watcher sees joins and leaves across an etcd restart", async () => {
    const watcher = await open();
    const writer = await open();
    const seen = record(watcher);
    const x = await writer.register(instance(mod, "x"));
    await eventually("join of x", () => seen.length === 1);

    await etcd.restart();

    await writer.register(instance(mod, "y"));
    await x.deregister();
    await eventually("join of y and leave of x after the restart", () => seen.length === 3, { timeoutMs: 10_000 });
    expect(seen).toEqual(["join:x", "join:y", "leave:x"]);
    expect((await watcher.list(mod)).map((i) => i.instanceId)).toEqual(["y"]);
  }, 20_000);

  test("after a partition, the watcher re-lists and emits what it missed (history compacted meanwhile)", async () => {
    const proxy = await tcpProxy(etcd.port);
    try {
      const watcher = await createEtcdRegistry({ hosts: [proxy.url], prefix: PREFIX, logger });
      opened.push(watcher);
      const writer = await open();
      const seen = record(watcher);
      const x = await writer.register(instance(mod, "x"));
      const kept = await writer.register(instance(mod, "kept"));
      await eventually("joins before the partition", () => seen.length === 2);

      proxy.cut();
      await writer.register(instance(mod, "y"));
      await x.deregister();
      await kept.update({ version: "2.0.0" });
      // Compact away the history the watcher would replay on reconnect.
      const rev = (await admin.get(keyOf(mod, "y")).exec()).header.revision;
      await admin.kv.compact({ revision: rev, physical: true });
      proxy.restore();

      await eventually("the missed join, update and leave", () => seen.length === 5, { timeoutMs: 15_000 });
      expect(seen.slice(0, 2)).toEqual(["join:x", "join:kept"]);
      expect(seen.slice(2).sort()).toEqual(["join:y", "leave:x", "update:kept"]);
      expect(logs.some((m) => m.includes("re-listing"))).toBe(true);
    } finally {
      await proxy.close();
    }
  }, 30_000);

  test("re-registers when its lease is revoked behind its back", async () => {
    const registry = await open({ ttlS: 2 });
    const observer = await open();
    const seen = record(observer);
    const reg = await registry.register(instance(mod, "i1"));
    const oldLease = await leaseOf(keyOf(mod, "i1"));
    await admin.leaseClient.leaseRevoke({ ID: oldLease! });

    await eventually("leave then join again", () => seen.length >= 3, { timeoutMs: 5000 });
    expect(seen).toEqual(["join:i1", "leave:i1", "join:i1"]);
    expect(logs).toContain("registry: re-registered after lease loss");
    const newLease = await leaseOf(keyOf(mod, "i1"));
    expect(newLease).not.toBe(oldLease);
    await reg.update({ version: "1.1.0" });
    expect((await observer.list(mod))[0]?.version).toBe("1.1.0");
    expect(await leaseOf(keyOf(mod, "i1"))).toBe(newLease);
  }, 10_000);

  test("re-registers after etcd was down longer than the lease TTL", async () => {
    const registry = await open({ ttlS: 2 });
    const reg = await registry.register(instance(mod, "i1"));
    const oldLease = await leaseOf(keyOf(mod, "i1"));

    await etcd.kill();
    // etcd3 declares the lease lost after 2 × TTL without a successful keepalive.
    await eventually("lease loss", () => logs.some((m) => m.startsWith("registry: lease lost")), { timeoutMs: 8000 });
    await etcd.restart();
    await eventually("re-registration", () => logs.includes("registry: re-registered after lease loss"), { timeoutMs: 10_000 });

    const newLease = await leaseOf(keyOf(mod, "i1"));
    expect(newLease).not.toBeNull();
    expect(newLease).not.toBe(oldLease);
    // The old lease (renewed by etcd's restart) expires; the key stays, under the new lease.
    await eventually("old lease expiry", async () => (await leaseTtl(oldLease!)) === -1, { timeoutMs: 6000 });
    expect(await leaseOf(keyOf(mod, "i1"))).toBe(newLease);
    expect(reg.instance).toEqual(instance(mod, "i1"));
  }, 30_000);

  test("creating a registry fails fast with RegistryError when etcd is unreachable", async () => {
    const started = performance.now();
    expect(await rejection(createEtcdRegistry({ hosts: ["http://127.0.0.1:1"] }))).toBeInstanceOf(RegistryError);
    expect(performance.now() - started).toBeLessThan(6000);
    expect(await rejection(createEtcdRegistry({ hosts: [] }))).toBeInstanceOf(RegistryError);
    expect(await rejection(createEtcdRegistry({ hosts: [etcd.url], prefix: "no-slash" }))).toBeInstanceOf(RegistryError);
  }, 10_000);
});
