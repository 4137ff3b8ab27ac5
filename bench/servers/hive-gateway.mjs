// Hive Gateway (@graphql-hive/gateway) over the HTTP fixture subgraphs, on Bun or on Node:
//   bun  bench/servers/hive-gateway.mjs <supergraph-file>   (target hive-gateway-bun)
//   node bench/servers/hive-gateway.mjs <supergraph-file>   (target hive-gateway-node)
//   HIVE_ROUTER_RUNTIME=1 bun bench/servers/hive-gateway.mjs <file>   (hive-gateway-bun-router)
// Plain JavaScript so that Node runs it without a TypeScript loader. The runtime is the one the
// `hive-gateway` CLI serves (createGatewayRuntime), embedded as its docs describe, in one
// process (no worker forks, as every other target). Inbound request deduplication is off
// (its default, set explicitly), logging at "error". Serves /graphql on PORT; prints
// HIVE_READY <port> once listening.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createGatewayRuntime } from "@graphql-hive/gateway";

const file = process.argv[2];
if (!file) {
  process.stderr.write("usage: hive-gateway.mjs <supergraph-file>\n");
  process.exit(2);
}
const port = Number(process.env.PORT ?? 0);
// HIVE_ROUTER_RUNTIME=1: Hive Router's Rust query planner (native addon) and its executor
// instead of the default stitching runtime (target hive-gateway-bun-router).
const routerRuntime = process.env.HIVE_ROUTER_RUNTIME === "1" ? await import("@graphql-hive/router-runtime") : undefined;
const gateway = createGatewayRuntime({
  supergraph: readFileSync(file, "utf8"),
  ...(routerRuntime ? { unifiedGraphHandler: routerRuntime.unifiedGraphHandler } : {}),
  logging: "error",
  inboundInflightRequestDeduplication: false,
  graphqlEndpoint: "/graphql",
  landingPage: false,
  graphiql: false,
});

let stop;
if (typeof globalThis.Bun !== "undefined") {
  const server = globalThis.Bun.serve({ port, hostname: "127.0.0.1", fetch: gateway });
  stop = () => server.stop(true);
  process.stdout.write(`HIVE_READY ${server.port}\n`);
} else {
  const server = createServer(gateway);
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  stop = () => new Promise((resolve) => server.close(resolve));
  process.stdout.write(`HIVE_READY ${server.address().port}\n`);
}
const shutdown = () =>
  Promise.resolve(stop())
    .then(() => gateway.dispose?.())
    .finally(() => process.exit(0));
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
