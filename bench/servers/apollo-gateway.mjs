// Apollo Gateway (@apollo/gateway + @apollo/server standalone, on Node) over the HTTP fixture
// subgraphs: `node bench/servers/apollo-gateway.mjs <supergraph-file>` (target apollo-gateway).
// Plain JavaScript so that Node runs it without a TypeScript loader. No inbound request
// deduplication exists in @apollo/gateway; usage reporting is off (no APOLLO_KEY), the landing
// page too. Serves /graphql on PORT; prints APOLLO_READY <port> once listening.
import { readFileSync } from "node:fs";
import { ApolloGateway } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";

const file = process.argv[2];
if (!file) {
  process.stderr.write("usage: apollo-gateway.mjs <supergraph-file>\n");
  process.exit(2);
}
const port = Number(process.env.PORT ?? 0);
const gateway = new ApolloGateway({ supergraphSdl: readFileSync(file, "utf8") });
const server = new ApolloServer({ gateway, plugins: [ApolloServerPluginLandingPageDisabled()] });
const { url } = await startStandaloneServer(server, { listen: { port, host: "127.0.0.1" } });
process.stdout.write(`APOLLO_READY ${new URL(url).port}\n`);
const shutdown = () => server.stop().finally(() => process.exit(0));
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
