/**
 * The registry contract: one `bun:test` suite every {@link Registry} implementation must pass
 * (memory now, etcd later). See src/kernel/registry/types.ts for the semantics.
 *
 * Rules the suite follows so it runs unchanged on both:
 * - each factory call returns a NEW client of the SAME backing store (two etcd clients on one
 *   cluster; two `connect()`s on one memory store). Tests that observe another client's
 *   registrations (e.g. "close deregisters") rely on this;
 * - the store may outlive a test and hold other data, so every test uses module names with a
 *   random per-test prefix and only looks at its own names and events;
 * - clients are closed in `afterEach`;
 * - waits poll with a deadline (etcd has latency); "no further event" is proved by waiting for a
 *   later sentinel event, relying on in-order delivery.
 */

import { afterEach, describe, expect, test } from "bun:test";
import {
  RegistryError,
  type Registry,
  type RegistryEvent,
  type RegistryFactory,
  type ServiceInstance,
} from "../../src/kernel/registry/types.ts";
import { eventually } from "../helpers/eventually.ts";

/** Resolves to the rejection reason, or fails the test if the promise resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected the promise to reject");
}

/**
 * Defines the contract suite for one registry implementation.
 * @param name implementation label used in the `describe` title, e.g. `"memory"`.
 * @param factory returns a new client of one shared store per call (see the module comment).
 */
export function registryContract(name: string, factory: RegistryFactory): void {
  describe(`registry contract: ${name}`, () => {
    const opened = new Set<Registry>();
    let prefix = "";

    async function open(): Promise<Registry> {
      const registry = await factory();
      opened.add(registry);
      return registry;
    }

    /** A module name private to the current test. */
    function mod(suffix: string): string {
      if (prefix === "") prefix = `ct${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
      return `${prefix}-${suffix}`;
    }

    function instance(moduleName: string, instanceId: string, extra?: Partial<ServiceInstance>): ServiceInstance {
      return {
        name: moduleName,
        instanceId,
        version: "1.0.0",
        subjects: [`graphql.${moduleName}`],
        sdlHash: "",
        metadata: { host: "test" },
        ...extra,
      };
    }

    /** Collects events concerning this test's modules only. */
    function record(registry: Registry): { events: RegistryEvent[]; stop: () => void } {
      const events: RegistryEvent[] = [];
      const stop = registry.watch((event) => {
        if (prefix !== "" && event.instance.name.startsWith(`${prefix}-`)) events.push(event);
      });
      return { events, stop };
    }

    const summary = (events: RegistryEvent[]): string[] =>
      events.map((e) => `${e.type}:${e.instance.name.slice(prefix.length + 1)}/${e.instance.instanceId}`);

    afterEach(async () => {
      const registries = [...opened];
      opened.clear();
      prefix = "";
      for (const registry of registries) await registry.close();
    });

    test("has a kind", async () => {
      const registry = await open();
      expect(typeof registry.kind).toBe("string");
      expect(registry.kind.length).toBeGreaterThan(0);
    });

    test("register then list returns the instance data", async () => {
      const registry = await open();
      const input = instance(mod("catalog"), "i1", {
        version: "2.3.4",
        subjects: ["graphql.catalog", "catalog.stock.reserve"],
        sdlHash: "ab".repeat(32),
        metadata: { host: "h1", pid: "42" },
      });
      const reg = await registry.register(input);
      expect(reg.instance).toEqual(input);
      await eventually("listing", async () => (await registry.list(mod("catalog"))).length === 1);
      expect(await registry.list(mod("catalog"))).toEqual([input]);
    });

    test("list filters by name and sorts by name then instanceId", async () => {
      const registry = await open();
      const [a, b] = [mod("a"), mod("b")];
      for (const [n, id] of [
        [b, "2"],
        [a, "2"],
        [b, "1"],
        [a, "1"],
        [a, "3"],
      ] as const) {
        await registry.register(instance(n, id));
      }
      const ours = async (): Promise<string[]> =>
        (await registry.list())
          .filter((i) => i.name === a || i.name === b)
          .map((i) => `${i.name.slice(prefix.length + 1)}/${i.instanceId}`);
      await eventually("5 instances listed", async () => (await ours()).length === 5);
      expect(await ours()).toEqual(["a/1", "a/2", "a/3", "b/1", "b/2"]);
      expect((await registry.list(a)).map((i) => i.instanceId)).toEqual(["1", "2", "3"]);
      expect((await registry.list(b)).map((i) => i.instanceId)).toEqual(["1", "2"]);
      expect(await registry.list(mod("nobody"))).toEqual([]);
    });

    test("watch sees join, update and leave, in order", async () => {
      const registry = await open();
      const seen = record(registry);
      const n = mod("svc");
      const reg = await registry.register(instance(n, "i1"));
      await reg.update({ sdlHash: "ff".repeat(32), subjects: ["graphql.svc", "svc.x"] });
      await reg.deregister();
      await eventually("3 events", () => seen.events.length >= 3);
      expect(summary(seen.events)).toEqual(["join:svc/i1", "update:svc/i1", "leave:svc/i1"]);
      const update = seen.events[1]!;
      expect(update.instance.sdlHash).toBe("ff".repeat(32));
      expect(update.instance.subjects).toEqual(["graphql.svc", "svc.x"]);
      expect(update.instance.version).toBe("1.0.0");
    });

    test("update is reflected by list and by the registration", async () => {
      const registry = await open();
      const n = mod("svc");
      const reg = await registry.register(instance(n, "i1"));
      await reg.update({ version: "1.1.0", metadata: { host: "h2" } });
      expect(reg.instance.version).toBe("1.1.0");
      expect(reg.instance.name).toBe(n);
      expect(reg.instance.instanceId).toBe("i1");
      await eventually("updated listing", async () => (await registry.list(n))[0]?.version === "1.1.0");
      expect(await registry.list(n)).toEqual([instance(n, "i1", { version: "1.1.0", metadata: { host: "h2" } })]);
    });

    test("watch reports changes only, not the state before it started", async () => {
      const registry = await open();
      await registry.register(instance(mod("old"), "i1"));
      const seen = record(registry);
      await registry.register(instance(mod("new"), "i1"));
      await eventually("join of the new instance", () => seen.events.length >= 1);
      expect(summary(seen.events)).toEqual(["join:new/i1"]);
    });

    test("watch sees changes made through another client", async () => {
      const writer = await open();
      const reader = await open();
      const seen = record(reader);
      const reg = await writer.register(instance(mod("svc"), "w1"));
      await reg.deregister();
      await eventually("join and leave", () => seen.events.length >= 2);
      expect(summary(seen.events)).toEqual(["join:svc/w1", "leave:svc/w1"]);
      expect(await reader.list(mod("svc"))).toEqual([]);
    });

    test("registering the same name + instanceId twice throws RegistryError", async () => {
      const registry = await open();
      const n = mod("dup");
      await registry.register(instance(n, "i1"));
      expect(await rejection(registry.register(instance(n, "i1", { version: "9.9.9" })))).toBeInstanceOf(RegistryError);
      await registry.register(instance(n, "i2"));
      await eventually("two instances", async () => (await registry.list(n)).length === 2);
      expect((await registry.list(n)).map((i) => [i.instanceId, i.version])).toEqual([
        ["i1", "1.0.0"],
        ["i2", "1.0.0"],
      ]);
    });

    test("deregister is idempotent and emits a single leave", async () => {
      const registry = await open();
      const seen = record(registry);
      const n = mod("svc");
      const reg = await registry.register(instance(n, "i1"));
      await reg.deregister();
      await reg.deregister();
      await registry.register(instance(mod("sentinel"), "s"));
      await eventually("sentinel join", () => summary(seen.events).includes("join:sentinel/s"));
      expect(summary(seen.events)).toEqual(["join:svc/i1", "leave:svc/i1", "join:sentinel/s"]);
      expect(await registry.list(n)).toEqual([]);
    });

    test("a name can be registered again after deregister", async () => {
      const registry = await open();
      const n = mod("svc");
      const first = await registry.register(instance(n, "i1"));
      await first.deregister();
      await registry.register(instance(n, "i1", { version: "2.0.0" }));
      await eventually("re-registered listing", async () => (await registry.list(n))[0]?.version === "2.0.0");
    });

    test("close deregisters everything registered through it; other clients see leave", async () => {
      const owner = await open();
      const observer = await open();
      const n = mod("svc");
      await owner.register(instance(n, "i1"));
      await owner.register(instance(n, "i2"));
      await eventually("both visible to the observer", async () => (await observer.list(n)).length === 2);
      const seen = record(observer);
      const kept = await observer.register(instance(mod("kept"), "k"));
      await owner.close();
      await owner.close();
      await eventually("instances gone after close", async () => (await observer.list(n)).length === 0);
      await eventually("two leave events", () => seen.events.filter((e) => e.type === "leave").length >= 2);
      expect(
        summary(seen.events)
          .filter((s) => s.startsWith("leave:"))
          .sort(),
      ).toEqual(["leave:svc/i1", "leave:svc/i2"]);
      expect((await observer.list(mod("kept"))).map((i) => i.instanceId)).toEqual(["k"]);
      await kept.deregister();
    });

    test("unwatch stops events", async () => {
      const registry = await open();
      const stopped = record(registry);
      const still = record(registry);
      await registry.register(instance(mod("a"), "1"));
      await eventually("first join", () => stopped.events.length === 1);
      stopped.stop();
      stopped.stop();
      await registry.register(instance(mod("b"), "1"));
      await eventually("second join on the other watcher", () => still.events.length === 2);
      expect(summary(stopped.events)).toEqual(["join:a/1"]);
      expect(summary(still.events)).toEqual(["join:a/1", "join:b/1"]);
    });

    test("instances are copies in and out", async () => {
      const registry = await open();
      const seen = record(registry);
      const n = mod("copy");
      const input = instance(n, "i1");
      const reg = await registry.register(input);
      input.subjects.push("mutated.in");
      input.metadata.host = "mutated";
      input.version = "6.6.6";
      await eventually("join", () => seen.events.length === 1);

      const listed = await registry.list(n);
      expect(listed[0]).toEqual(instance(n, "i1"));
      listed[0]!.subjects.push("mutated.out");
      listed[0]!.metadata.host = "mutated";
      seen.events[0]!.instance.subjects.push("mutated.event");
      reg.instance.metadata.host = "mutated";
      reg.instance.subjects.push("mutated.registration");

      expect(await registry.list(n)).toEqual([instance(n, "i1")]);
      expect(reg.instance).toEqual(instance(n, "i1"));
    });
  });
}
