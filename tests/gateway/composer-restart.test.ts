import { describe, expect, test } from "bun:test";
import { SupergraphComposer } from "../../src/gateway/federation/composer.ts";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import { createMemoryRegistry } from "../../src/kernel/registry/memory.ts";
import { createMemorySupergraphStore } from "../../src/kernel/supergraph-store/memory.ts";

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
    const deadline = Date.now() + 3000;
    while (composer.registered.length === 0 && Date.now() < deadline) await Bun.sleep(10);
    expect(composer.registered).toEqual(["review"]);
    composer.stop();
    await registry.close();
    await bus.close();
  });
});
