/**
 * The four fixture subgraphs as plain GraphQL-over-HTTP servers (one `Bun.serve` per subgraph,
 * graphql-yoga + `@apollo/subgraph`), for the gateways that federate over HTTP
 * (switchyard-http, hive-gateway-*, apollo-gateway). Ports are picked free; prints one line
 * `SUBGRAPHS {"accounts":"http://127.0.0.1:<port>/graphql",...}` once listening.
 */
import { SUBGRAPH_NAMES, loadData } from "../fixture/data.ts";
import { serveFixtureSubgraph } from "../fixture/http-subgraph.ts";
import { FixtureStore } from "../fixture/resolvers.ts";
import { onShutdown } from "./common.ts";

const store = new FixtureStore(loadData());
const servers = SUBGRAPH_NAMES.map((name) => ({ name, server: serveFixtureSubgraph(name, store, 0) }));
const urls = Object.fromEntries(servers.map(({ name, server }) => [name, `http://127.0.0.1:${server.port}/graphql`]));
onShutdown(async () => {
  await Promise.all(servers.map(({ server }) => server.stop(true)));
});
process.stdout.write(`SUBGRAPHS ${JSON.stringify(urls)}\n`);
