import { describe, expect, test } from "bun:test";
import { SupergraphComposer } from "../../src/gateway/federation/composer.ts";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import { createMemoryRegistry } from "../../src/kernel/registry/memory.ts";
import { createMemorySupergraphStore } from "../../src/kernel/supergraph-store/memory.ts";
import { eventually } from "../helpers/eventually.ts";

/**
 * The election stops the composer when leadership is lost and starts it again when it is won
 * back: the restarted composer must react to registry changes like a new one.
 */
describe("supergraph composer", () => {
  test("started again after a stop, it recomposes on registry changes", async () => {
    const bus = createMemoryBus();
    const registry = createMemoryRegistry();
    const logger = createLogger({ level: "silent" });
    const composer = new SupergraphComposer({
      bus,
      registry,
      store: createMemorySupergraphStore(),
      logger,
      sdlTimeoutMs: 200,
      debounceMs: 1,
    });
    await composer.start();
    composer.stop();
    await composer.start();
    expect(composer.registered).toEqual([]);
    await registry.register({ name: "review", instanceId: "i1", version: "0.1.0", subjects: [], sdlHash: "abc", metadata: {} });
    await eventually("the restarted composer to see the registration", () => composer.registered.length > 0, { timeoutMs: 3000 }).catch(
      () => {}, // asserted below
    );
    expect(composer.registered).toEqual(["review"]);
    composer.stop();
    await registry.close();
    await bus.close();
  });
});
