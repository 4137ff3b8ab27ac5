/**
 * Subgraph outage at the gateway, in one process: the account module runs in its own kernel on
 * the shared memory bus and registry (as a separate process would on NATS and etcd); it stops
 * and comes back while the gateway keeps serving. While no instance serves it, fetches wait for
 * one until SUBGRAPH_TIMEOUT_MS; BREAKER_FAILURES such full waits open the breaker, fetches then
 * fail fast, and the half-open trial waits again (answered by an instance that starts meanwhile).
 * An instance that takes requests and does not answer (timeouts) opens it too.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Writable } from "node:stream";
import { rmSync } from "node:fs";
import { Kernel } from "../../src/kernel/kernel.ts";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { createMemoryRegistry } from "../../src/kernel/registry/memory.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import { configureBreakers, DEFAULT_BREAKER } from "../../src/kernel/policy/index.ts";
import { metricsRegistry } from "../../src/kernel/metrics.ts";
import { attemptFloorMs } from "../../src/kernel/bus/responder-wait.ts";
import type { Bus } from "../../src/kernel/bus/types.ts";
import type { Registry } from "../../src/kernel/registry/types.ts";
import { MODULES } from "../../src/module-list.ts";
import { createGatewayPart } from "../../src/gateway/index.ts";
import { TEST_JWT_SECRET, testConfig } from "../helpers/modules.ts";
import { adminJson } from "../helpers/admin.ts";
import { eventually } from "../helpers/eventually.ts";

/** BREAKER_RESET_MS here (BREAKER_FAILURES is 2). */
const RESET_MS = 1000;
/**
 * SUBGRAPH_TIMEOUT_MS of the gateway here: how long a fetch waits for an absent subgraph (short
 * for the test, long enough for a registration's password hashing on a busy machine).
 */
const TIMEOUT_MS = 2000;
let bus: Bus;
let registry: Registry;
let gatewayKernel: Kernel;
let accountKernel: Kernel | undefined;
let baseUrl: string;
let opsUrl: string;
const dataDir = testConfig().dataDir;
const lines: Record<string, unknown>[] = [];

function capture(): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
}

async function startAccount(): Promise<Kernel> {
  const k = new Kernel({ bus, registry, config: testConfig({ dataDir }), logger: createLogger({ level: "silent" }) });
  MODULES["account"]?.(k);
  await k.start();
  return k;
}

type Result<T> = { data?: T | null; errors?: { message: string; path?: string[]; extensions?: Record<string, unknown> }[] };
async function gql<T>(query: string, variables: Record<string, unknown> = {}, token?: string): Promise<Result<T>> {
  const res = await fetch(`${baseUrl}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as Result<T>;
}

function sample(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && want.every((w) => l.includes(w)));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
}

const health = async (): Promise<{ breakers: Record<string, string> }> =>
  adminJson(opsUrl, { jwtSecret: TEST_JWT_SECRET, graphqlUrl: `${baseUrl}/graphql` }, "/admin/health");

beforeAll(async () => {
  configureBreakers({ failures: 2, resetMs: RESET_MS });
  bus = createMemoryBus();
  registry = createMemoryRegistry();
  accountKernel = await startAccount();
  gatewayKernel = new Kernel({
    bus,
    registry,
    config: testConfig({ dataDir, seed: true, port: 0, subgraphTimeoutMs: TIMEOUT_MS }),
    logger: createLogger({ level: "info", destination: capture() }),
  });
  MODULES["catalog"]?.(gatewayKernel);
  gatewayKernel.addPart(
    createGatewayPart({ expectedSubgraphs: ["account", "catalog"], onListening: (l) => void ({ url: baseUrl, opsUrl } = l) }),
  );
  await gatewayKernel.start();
  // The admin token's account is registered and seen active now, while the account module is up:
  // the session guard keeps accepting a token it saw active when the account module goes down.
  await health();
});

afterAll(async () => {
  await gatewayKernel?.stop();
  await accountKernel?.stop();
  await bus?.close();
  await registry?.close();
  configureBreakers(DEFAULT_BREAKER);
  rmSync(dataDir, { recursive: true, force: true });
});

describe("a subgraph goes down and comes back", () => {
  const MIXED = `query Mixed { categories { name } me { name } }`;
  let token: string;

  beforeAll(async () => {
    const r = await gql<{ register: { token: string } }>(`mutation($input: RegisterInput!) { register(input: $input) { token } }`, {
      input: { name: "Outage Olga", email: `olga-${Date.now()}@example.com`, password: "correct horse battery" },
    });
    token = r.data?.register.token as string;
    expect(token).toBeTruthy();
    const full = await gql<{ categories: { name: string }[]; me: { name: string } }>(MIXED, {}, token);
    expect(full.errors).toBeUndefined();
    expect(full.data?.me.name).toBe("Outage Olga");
    await accountKernel?.stop();
    accountKernel = undefined;
  });

  test("a mutation on the missing subgraph waits for a responder until the timeout, then answers SUBGRAPH_UNAVAILABLE", async () => {
    const before = await metricsRegistry.metrics();
    const started = performance.now();
    const r = await gql(`mutation { login(email: "nobody@example.com", password: "whatever-pass") { token } }`);
    expect(r.errors?.[0]?.extensions?.["code"]).toBe("SUBGRAPH_UNAVAILABLE");
    // It waited the whole timeout but the last stretch in which no attempt is sent any more.
    expect(performance.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - attemptFloorMs(TIMEOUT_MS) - 50);
    const after = await metricsRegistry.metrics();
    const sent = (t: string) =>
      sample(t, "switchyard_bus_request_duration_seconds_count", { subject: "graphql.account", outcome: "no_responders" });
    expect(sent(after) - sent(before)).toBe(1);
    const waits = (t: string) => sample(t, "switchyard_bus_no_responder_waits_total", { subject: "graphql.account" });
    expect(waits(after) - waits(before)).toBe(1);
  });

  test("a query mixing subgraphs answers the others' data plus SUBGRAPH_UNAVAILABLE on the missing one's fields", async () => {
    const r = await gql<{ categories: { name: string }[]; me: { name: string } | null }>(MIXED, {}, token);
    expect(r.data?.categories.length).toBeGreaterThan(0);
    expect(r.data?.me).toBeNull();
    const err = r.errors?.find((e) => e.extensions?.["code"] === "SUBGRAPH_UNAVAILABLE");
    expect(err).toBeDefined();
    expect(r.errors?.every((e) => e.extensions?.["code"] === "SUBGRAPH_UNAVAILABLE")).toBe(true);
    // Two fetches (the mutation's above and this one) found nobody during their whole wait: the
    // account is absent for longer than a caller can wait, the breaker opened, and the next fetch
    // fails fast instead of waiting SUBGRAPH_TIMEOUT_MS again.
    const before = await metricsRegistry.metrics();
    const started = performance.now();
    const fast = await gql<{ categories: { name: string }[]; me: null }>(MIXED, {}, token);
    expect(performance.now() - started).toBeLessThan(TIMEOUT_MS / 2);
    expect(fast.errors?.every((e) => e.extensions?.["code"] === "SUBGRAPH_UNAVAILABLE")).toBe(true);
    const after = await metricsRegistry.metrics();
    const failedFast = (t: string) =>
      sample(t, "switchyard_subgraph_fetch_duration_seconds_count", { subgraph: "account", outcome: "circuit_open" });
    expect(failedFast(after) - failedFast(before)).toBe(1);
    expect((await health()).breakers["subgraph:account"]).toBe("open");
  });

  test("the half-open trial waits for the absent subgraph and is answered by an instance that starts meanwhile", async () => {
    await Bun.sleep(RESET_MS); // the breaker lets one trial through after BREAKER_RESET_MS
    const pending = gql<{ me: { name: string } | null }>(`query { me { name } }`, {}, token);
    await Bun.sleep(100); // the query is waiting on the bus now
    accountKernel = await startAccount();
    const r = await pending;
    expect(r.errors).toBeUndefined();
    expect(r.data?.me?.name).toBe("Outage Olga");
    expect((await health()).breakers["subgraph:account"]).toBe("closed");
    await accountKernel.stop();
    accountKernel = undefined;
  });

  test("an instance that takes requests and never answers opens the breaker: /admin/health and the gauge show it, fetches fail fast", async () => {
    // Serves graphql.account in the module's queue group, like a hung instance.
    const hung = bus.subscribe("graphql.account", () => {}, { queue: "account" });
    // Open until the test ends (each timeout takes TIMEOUT_MS: RESET_MS would half-open it meanwhile).
    configureBreakers({ failures: 2, resetMs: 60_000 });
    try {
      await eventually(
        "the breaker of subgraph:account open",
        async () => {
          await gql(MIXED, {}, token);
          return (await health()).breakers["subgraph:account"] === "open";
        },
        { timeoutMs: 20_000 },
      );
      const before = await metricsRegistry.metrics();
      const r = await gql<{ categories: { name: string }[]; me: null }>(MIXED, {}, token);
      expect(r.data?.categories.length).toBeGreaterThan(0);
      expect(r.errors?.[0]?.extensions?.["code"]).toBe("SUBGRAPH_UNAVAILABLE");
      const after = await metricsRegistry.metrics();
      expect(sample(after, "switchyard_circuit_breaker_state", { target: "subgraph:account" })).toBe(2);
      const fast = (t: string) =>
        sample(t, "switchyard_subgraph_fetch_duration_seconds_count", { subgraph: "account", outcome: "circuit_open" });
      expect(fast(after) - fast(before)).toBe(1);
      // Nothing was sent to the bus for that fetch.
      const sent = (t: string) =>
        sample(t, "switchyard_bus_request_duration_seconds_count", { subject: "graphql.account", outcome: "timeout" });
      expect(sent(after)).toBe(sent(before));
    } finally {
      hung.unsubscribe();
      configureBreakers({ failures: 2, resetMs: RESET_MS });
    }
  });

  test("the module comes back: the gateway answers in full again, breaker closed", async () => {
    accountKernel = await startAccount();
    let last: Result<{ me: { name: string } | null }> | undefined;
    await eventually(
      "the account subgraph answering through the gateway again",
      async () => {
        last = await gql<{ me: { name: string } | null }>(MIXED, {}, token);
        return Boolean(last.data?.me?.name);
      },
      { timeoutMs: 5000, intervalMs: 100 },
    ).catch(() => {}); // the assertions below show the last answer
    expect(last?.errors).toBeUndefined();
    expect(last?.data?.me?.name).toBe("Outage Olga");
    expect((await health()).breakers["subgraph:account"]).toBe("closed");
  });
});
