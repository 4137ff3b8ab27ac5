import { afterEach, describe, expect, test } from "bun:test";
import { createMemoryRegistry, createMemoryRegistryStore } from "../../src/kernel/registry/memory.ts";
import { RegistryError, type Registry, type RegistryEvent, type ServiceInstance } from "../../src/kernel/registry/types.ts";
import { registryContract } from "../contract/registry.contract.ts";

// The contract needs every factory call to be a new client of one shared store (like etcd
// clients of one cluster); it keeps tests apart with per-test module names.
const store = createMemoryRegistryStore();
registryContract("memory", async () => store.connect());

function instance(name: string, instanceId: string, extra?: Partial<ServiceInstance>): ServiceInstance {
  return { name, instanceId, version: "1.0.0", subjects: [], sdlHash: "", metadata: {}, ...extra };
}

/** Lets queued watch deliveries (microtasks) run. */
const tick = (): Promise<void> => Bun.sleep(0);

describe("memory registry specifics", () => {
  const registries: Registry[] = [];
  const make = (opts?: Parameters<typeof createMemoryRegistry>[0]): Registry => {
    const registry = createMemoryRegistry(opts);
    registries.push(registry);
    return registry;
  };
  afterEach(async () => {
    for (const registry of registries.splice(0)) await registry.close();
  });

  test("kind is memory; two registries are isolated", async () => {
    const a = make();
    const b = make();
    expect(a.kind).toBe("memory");
    await a.register(instance("svc", "1"));
    expect(await b.list()).toEqual([]);
    await b.register(instance("svc", "1"));
    expect((await a.list()).length).toBe(1);
  });

  test("watch delivery is asynchronous", async () => {
    const registry = make();
    const events: RegistryEvent[] = [];
    registry.watch((e) => void events.push(e));
    const registering = registry.register(instance("svc", "1"));
    expect(events).toEqual([]);
    await registering;
    await tick();
    expect(events.map((e) => e.type)).toEqual(["join"]);
  });

  test("a watcher added after a change does not see it even if delivery is still pending", async () => {
    const registry = make();
    const early: RegistryEvent[] = [];
    const late: RegistryEvent[] = [];
    registry.watch((e) => void early.push(e));
    const registering = registry.register(instance("svc", "1"));
    registry.watch((e) => void late.push(e));
    await registering;
    await tick();
    expect(early.length).toBe(1);
    expect(late).toEqual([]);
  });

  test("unwatch drops events already queued for that listener", async () => {
    const registry = make();
    const events: RegistryEvent[] = [];
    const stop = registry.watch((e) => void events.push(e));
    const registering = registry.register(instance("svc", "1"));
    stop();
    await registering;
    await tick();
    expect(events).toEqual([]);
  });

  test("update and register reject after deregister / close with RegistryError", async () => {
    const registry = make();
    const reg = await registry.register(instance("svc", "1"));
    await reg.deregister();
    await expect(reg.update({ version: "2.0.0" })).rejects.toBeInstanceOf(RegistryError);
    await registry.close();
    await registry.close();
    await expect(registry.register(instance("svc", "2"))).rejects.toBeInstanceOf(RegistryError);
    await expect(registry.list()).rejects.toBeInstanceOf(RegistryError);
    expect(typeof registry.watch(() => {})).toBe("function");
  });

  test("update ignores undefined fields and cannot change identity", async () => {
    const registry = make();
    const reg = await registry.register(instance("svc", "1", { version: "1.2.3", sdlHash: "h" }));
    const sneaky = { version: undefined, name: "other", instanceId: "x" } as unknown as Parameters<typeof reg.update>[0];
    await reg.update(sneaky);
    expect(reg.instance).toEqual(instance("svc", "1", { version: "1.2.3", sdlHash: "h" }));
    expect(await registry.list()).toEqual([reg.instance]);
  });

  test("malformed instances are rejected with RegistryError", async () => {
    const registry = make();
    await expect(registry.register(instance("", "1"))).rejects.toBeInstanceOf(RegistryError);
    await expect(registry.register(instance("svc", ""))).rejects.toBeInstanceOf(RegistryError);
  });

  test("extra properties are not stored", async () => {
    const registry = make();
    const withExtra = { ...instance("svc", "1"), secret: "nope" } as ServiceInstance;
    await registry.register(withExtra);
    expect(await registry.list()).toEqual([instance("svc", "1")]);
  });

  test("a throwing listener is logged and does not stop other listeners", async () => {
    const logged: string[] = [];
    const registry = make({ logger: { warn: (_obj, msg) => void logged.push(msg) } });
    const events: string[] = [];
    registry.watch(() => {
      throw new Error("listener bug");
    });
    registry.watch((e) => void events.push(e.type));
    const reg = await registry.register(instance("svc", "1"));
    await reg.deregister();
    await tick();
    expect(events).toEqual(["join", "leave"]);
    expect(logged).toEqual(["registry watch listener failed", "registry watch listener failed"]);
  });

  test("close stops the closing client's own watchers; other clients keep theirs", async () => {
    const shared = createMemoryRegistryStore();
    const a = shared.connect();
    const b = shared.connect();
    registries.push(a, b);
    const seenByA: string[] = [];
    const seenByB: string[] = [];
    a.watch((e) => void seenByA.push(e.type));
    b.watch((e) => void seenByB.push(e.type));
    await a.register(instance("svc", "1"));
    await tick();
    await a.close();
    await tick();
    expect(seenByA).toEqual(["join"]);
    expect(seenByB).toEqual(["join", "leave"]);
    await expect(b.register(instance("svc", "1"))).resolves.toBeDefined();
  });

  test("listing sorts by code unit, not locale", async () => {
    const registry = make();
    for (const name of ["b", "B", "a", "_x"]) await registry.register(instance(name, "1"));
    expect((await registry.list()).map((i) => i.name)).toEqual(["B", "_x", "a", "b"]);
  });
});
