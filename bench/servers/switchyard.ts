/**
 * Switchyard with the gateways-benchmark fixture as modules.
 *
 * - `bun bench/servers/switchyard.ts` (target `switchyard-monolith`): one process, the four
 *   fixture modules and the gateway on the in-memory bus; the gateway composes the
 *   supergraph from the registry exactly as `MODULES=all` does with the product's modules.
 *   Serves `/graphql` on `PORT`.
 * - `BUS=nats://host:port bun bench/servers/switchyard.ts --modules-only` (target
 *   `switchyard-nats`, second process): the four modules on NATS, no gateway; the gateway is
 *   the main binary with `--supergraph` whose URLs are `bus://graphql.<name>`.
 *
 * Prints `SWITCHYARD_READY` on stdout once started.
 */
import { createLogger } from "../../src/kernel/logger.ts";
import { Kernel } from "../../src/kernel/kernel.ts";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { createNatsBus } from "../../src/kernel/bus/nats.ts";
import { createMemoryRegistry } from "../../src/kernel/registry/memory.ts";
import type { Bus } from "../../src/kernel/bus/types.ts";
import { createGatewayPart } from "../../src/gateway/index.ts";
import { SUBGRAPH_NAMES } from "../fixture/data.ts";
import { registerFixtureModules } from "../fixture/modules.ts";
import { benchConfig, onShutdown } from "./common.ts";

const modulesOnly = process.argv.includes("--modules-only");
const config = benchConfig();
const logger = createLogger({ level: config.logLevel, pretty: false });
let bus: Bus;
if (config.bus.kind === "nats") {
  bus = await createNatsBus({ servers: config.bus.servers, name: "bench-fixture-modules", logger: logger.child({ component: "nats" }) });
} else {
  if (modulesOnly) throw new Error("--modules-only needs BUS=nats://...");
  bus = createMemoryBus({ logger });
}
const kernel = new Kernel({ bus, registry: createMemoryRegistry({ logger }), config, logger });
registerFixtureModules(kernel);
if (!modulesOnly) kernel.addPart(createGatewayPart({ expectedSubgraphs: SUBGRAPH_NAMES }));
await kernel.start();
onShutdown(async () => {
  await kernel.stop();
  await bus.drain().catch(() => {});
});
process.stdout.write("SWITCHYARD_READY\n");
