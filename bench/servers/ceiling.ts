/**
 * The ceiling: one process answering the benchmark operation from one schema holding every
 * fixture resolver (no federation, no planning, no subgraph fetches), on graphql-yoga +
 * `Bun.serve` like the Switchyard gateway. Serves `/graphql` on `PORT`; prints `CEILING_READY`.
 */
import { createSchema, createYoga } from "graphql-yoga";
import { loadData } from "../fixture/data.ts";
import { CEILING_SDL, FixtureStore, ceilingResolvers } from "../fixture/resolvers.ts";
import { onShutdown } from "./common.ts";

const store = new FixtureStore(loadData());
const schema = createSchema({ typeDefs: CEILING_SDL, resolvers: ceilingResolvers(store) });
const yoga = createYoga({ schema, graphqlEndpoint: "/graphql", graphiql: false, landingPage: false, logging: false });
const server = Bun.serve({ port: Number(process.env["PORT"] ?? 0), hostname: "127.0.0.1", fetch: (req) => yoga.fetch(req) });
onShutdown(async () => {
  await server.stop(true);
});
process.stdout.write(`CEILING_READY ${server.port}\n`);
