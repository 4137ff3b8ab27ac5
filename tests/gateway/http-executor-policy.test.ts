/**
 * The HTTP subgraph executor goes through the same call policy as the bus executor: queries
 * that time out are retried, mutations are not, the subgraph's breaker opens after
 * BREAKER_FAILURES failures and then answers SUBGRAPH_UNAVAILABLE without calling the
 * subgraph, and every fetch is observed in switchyard_subgraph_fetch_duration_seconds.
 */
import { afterAll, afterEach, expect, test } from "bun:test";
import { OperationTypeNode, parse, type ExecutionResult } from "graphql";
import type { ExecutionRequest } from "@graphql-tools/utils";
import { createHttpSubgraphExecutor } from "../../src/gateway/http-executor.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import { metricsRegistry } from "../../src/kernel/metrics.ts";
import { configureBreakers, DEFAULT_BREAKER } from "../../src/kernel/policy/index.ts";

let hits = 0;
// Accepts every request and never answers: each attempt ends in the executor's timeout.
const silent = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => (hits++, new Promise<Response>(() => {})) });
afterAll(() => void silent.stop(true));
afterEach(() => configureBreakers(DEFAULT_BREAKER));

const logger = createLogger({ level: "silent" });
const request = (source: string, operationType: OperationTypeNode): ExecutionRequest =>
  ({ document: parse(source), operationType, variables: {}, context: { requestId: "req-1", identity: null } }) as ExecutionRequest;
const codes = (r: ExecutionResult) => (r.errors ?? []).map((e) => e.extensions?.["code"]);

function fetches(text: string, subgraph: string, outcome: string): number {
  const line = text
    .split("\n")
    .find(
      (l) =>
        l.startsWith("switchyard_subgraph_fetch_duration_seconds_count{") &&
        l.includes(`subgraph="${subgraph}"`) &&
        l.includes(`outcome="${outcome}"`),
    );
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
}

test("queries are retried, mutations are not; both answer SUBGRAPH_UNAVAILABLE and are counted once", async () => {
  configureBreakers({ failures: 100, resetMs: 5000 });
  const exec = createHttpSubgraphExecutor(`http://127.0.0.1:${silent.port}/graphql`, "hang", 100, logger);
  hits = 0;
  const q = (await exec(request("{ a }", OperationTypeNode.QUERY))) as ExecutionResult;
  expect(codes(q)).toEqual(["SUBGRAPH_UNAVAILABLE"]);
  expect(q.errors?.[0]?.extensions?.["subgraph"]).toBe("hang");
  expect(hits).toBe(3);
  hits = 0;
  const m = (await exec(request("mutation { a }", OperationTypeNode.MUTATION))) as ExecutionResult;
  expect(codes(m)).toEqual(["SUBGRAPH_UNAVAILABLE"]);
  expect(hits).toBe(1);
  expect(fetches(await metricsRegistry.metrics(), "hang", "unavailable")).toBe(2);
});

test("the subgraph's breaker opens after BREAKER_FAILURES failures and fails fast without calling it", async () => {
  const breakers = configureBreakers({ failures: 2, resetMs: 60_000 });
  const exec = createHttpSubgraphExecutor(`http://127.0.0.1:${silent.port}/graphql`, "tripped", 100, logger);
  expect(breakers.states()["subgraph:tripped"]).toBe("closed");
  for (let i = 0; i < 2; i++) await exec(request("mutation { a }", OperationTypeNode.MUTATION));
  expect(breakers.states()["subgraph:tripped"]).toBe("open");
  hits = 0;
  const r = (await exec(request("{ a }", OperationTypeNode.QUERY))) as ExecutionResult;
  expect(codes(r)).toEqual(["SUBGRAPH_UNAVAILABLE"]);
  expect(r.errors?.[0]?.message).toContain("circuit breaker of subgraph:tripped is open");
  expect(hits).toBe(0);
  expect(fetches(await metricsRegistry.metrics(), "tripped", "circuit_open")).toBe(1);
});
