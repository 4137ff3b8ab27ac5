/**
 * Subgraph request deduplication (SUBGRAPH_DEDUP, src/gateway/dedup.ts) through the whole
 * gateway, on each way it reaches a subgraph: the memory bus (monolith), NATS (a real
 * nats-server, the gateway and the module in kernels of their own, as in split mode) and HTTP
 * (a `--supergraph` file pointing at an HTTP subgraph). The probe subgraph
 * (tests/fixtures/probe-subgraph.ts) counts its executions and holds them until released, so
 * "in flight at the same time" is a fact, not a race: a test releases only once the second
 * request has joined (the dedup metric moved) or reached the subgraph (the count moved).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { parse } from "graphql";
import { composeServices } from "@theguild/federation-composition";
import { Kernel } from "../../src/kernel/kernel.ts";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import { createNatsBus } from "../../src/kernel/bus/nats.ts";
import type { Bus } from "../../src/kernel/bus/types.ts";
import { createMemoryRegistry } from "../../src/kernel/registry/memory.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import { signToken } from "../../src/kernel/auth/jwt.ts";
import { subgraphFetchDeduplicated } from "../../src/kernel/metrics.ts";
import { DEFAULT_RETRY } from "../../src/kernel/policy/stages.ts";
import { initTracing } from "../../src/kernel/tracing.ts";
import { createGatewayPart, type GatewayListening } from "../../src/gateway/index.ts";
import { startNats, type NatsServer } from "../../scripts/devservers/nats.ts";
import { TEST_JWT_SECRET, testConfig } from "../helpers/modules.ts";
import { eventually } from "../helpers/eventually.ts";
import { PROBE_SDL, Probe, probeModule, probeResolvers } from "../fixtures/probe-subgraph.ts";
import { serveSubgraphs, type ServedSubgraphs } from "./federation-harness.ts";

type Transport = "memory" | "nats" | "http";

interface Res {
  status: number;
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** A gateway serving one probe subgraph, and the probe. */
interface Setup {
  probe: Probe;
  /** The subgraph's label in the dedup metric. */
  label: string;
  /** Operations listener of the gateway (`/metrics`). */
  opsUrl: string;
  gql(query: string, variables: Record<string, unknown>, token?: string, headers?: Record<string, string>): Promise<Res>;
  stop(): Promise<void>;
}

const quiet = () => createLogger({ level: "info", destination: new Writable({ write: (_c, _e, cb) => cb() }) });

/** Supergraph SDL of one probe subgraph `name` at `url`. */
function supergraphOf(name: string, url: string): string {
  const composed = composeServices([{ name, typeDefs: parse(PROBE_SDL), url }]);
  if (composed.errors?.length || !composed.supergraphSdl) throw new Error(`composition failed: ${composed.errors?.map((e) => e.message)}`);
  return composed.supergraphSdl;
}

/**
 * Starts a gateway on a supergraph file with one probe subgraph named `name`, reached over
 * `transport`; `subgraphTimeoutMs` and `dedup` as SUBGRAPH_TIMEOUT_MS / SUBGRAPH_DEDUP.
 */
async function startSetup(
  transport: Transport,
  name: string,
  opts: { nats?: NatsServer; subgraphTimeoutMs?: number; dedup?: boolean } = {},
): Promise<Setup> {
  const probe = new Probe();
  const dir = mkdtempSync(join(tmpdir(), "switchyard-dedup-"));
  let served: ServedSubgraphs | undefined;
  let url = `bus://graphql.${name}`;
  if (transport === "http") {
    served = serveSubgraphs([{ name, typeDefs: PROBE_SDL, resolvers: probeResolvers(probe) }]);
    url = /@join__graph\(name: "[^"]+", url: "([^"]+)"\)/.exec(served.supergraphSdl)?.[1] ?? "";
  }
  const file = join(dir, "supergraph.graphql");
  writeFileSync(file, served ? served.supergraphSdl : supergraphOf(name, url));
  const config = testConfig({
    dataDir: dir,
    supergraphFile: file,
    port: 0,
    subgraphTimeoutMs: opts.subgraphTimeoutMs ?? 5000,
    subgraphDedup: opts.dedup ?? true,
  });
  const buses: Bus[] = [];
  const kernels: Kernel[] = [];
  const newBus = async (who: string): Promise<Bus> => {
    const bus = opts.nats ? await createNatsBus({ servers: [opts.nats.url], name: `dedup-${who}` }) : createMemoryBus();
    buses.push(bus);
    return bus;
  };
  const gatewayBus = await newBus("gateway");
  const gateway = new Kernel({ bus: gatewayBus, registry: createMemoryRegistry(), config, logger: quiet() });
  if (transport === "memory") gateway.addModule(probeModule(name, probe));
  if (transport === "nats") {
    // The module in a kernel of its own, on its own NATS connection: the split-mode path.
    const modules = new Kernel({ bus: await newBus("module"), registry: createMemoryRegistry(), config, logger: quiet() });
    modules.addModule(probeModule(name, probe));
    await modules.start();
    kernels.push(modules);
  }
  let listening: GatewayListening | undefined;
  gateway.addPart(createGatewayPart({ expectedSubgraphs: [], onListening: (l) => void (listening = l) }));
  await gateway.start();
  kernels.unshift(gateway);
  if (!listening) throw new Error("the gateway started without reporting its listeners");
  const { app, opsUrl } = listening as GatewayListening;
  return {
    probe,
    // The bus executor labels by module name, the HTTP executor by the supergraph's graph name.
    label: transport === "http" ? name.toUpperCase() : name,
    opsUrl,
    async gql(query, variables, token, headers = {}) {
      const res = await app.request("/graphql", {
        method: "POST",
        headers: { "content-type": "application/json", ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      return { status: res.status, ...((await res.json()) as Omit<Res, "status">) };
    },
    async stop() {
      probe.releaseAll();
      for (const k of kernels) await k.stop();
      for (const b of buses) await b.close();
      served?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Fetches to `label` answered by another's execution so far (the metric, in this process). */
async function deduplicated(label: string): Promise<number> {
  const metric = await subgraphFetchDeduplicated.get();
  return metric.values.find((v) => v.labels["subgraph"] === label)?.value ?? 0;
}

const WHOAMI = "query Who($tag: String!) { whoami(tag: $tag) }";
const token = (accountId: string, roles: string[]) => signToken(TEST_JWT_SECRET, { accountId, roles, sessionId: `s-${accountId}` }, 3600);

// Spans recorded for this file (each waiter's own span is checked); not recording afterwards.
const spans = new InMemorySpanExporter();
beforeAll(() => void initTracing({ serviceName: "switchyard-test", exporter: spans }));
afterAll(() => void initTracing({ serviceName: "switchyard-test" }));

let tagSeq = 0;
/** A tag no other test uses (each test's executions are counted and held apart). */
const freshTag = (what: string) => `${what}-${++tagSeq}`;

for (const transport of ["memory", "nats", "http"] as const) {
  describe(`subgraph request deduplication [${transport}]`, () => {
    let nats: NatsServer | undefined;
    let on: Setup;
    let off: Setup;
    let short: Setup;
    let alice: string;
    let bob: string;
    beforeAll(async () => {
      if (transport === "nats") nats = await startNats();
      const base = { ...(nats ? { nats } : {}) };
      // Distinct subgraph names per setup: breakers and metric labels are per process.
      on = await startSetup(transport, `p${transport}`, base);
      off = await startSetup(transport, `n${transport}`, { ...base, dedup: false });
      short = await startSetup(transport, `s${transport}`, { ...base, subgraphTimeoutMs: 1000 });
      alice = await token("alice", ["customer"]);
      bob = await token("bob", ["customer"]);
      // Plans cached: the concurrent requests below start their fetches at once.
      for (const s of [on, off, short]) expect((await s.gql(WHOAMI, { tag: "warm" })).status).toBe(200);
    }, 60_000);
    afterAll(async () => {
      for (const s of [on, off, short]) await s?.stop();
      await nats?.stop();
    });

    test("two identical queries of one caller in flight: one subgraph execution, the same answer for both, counted", async () => {
      const tag = freshTag("same");
      on.probe.hold(tag);
      spans.reset();
      const before = await deduplicated(on.label);
      const a = on.gql(WHOAMI, { tag }, alice);
      const b = on.gql(WHOAMI, { tag }, alice);
      await eventually("the second fetch joined the first", async () => (await deduplicated(on.label)) === before + 1);
      expect(on.probe.calls(tag)).toBe(1);
      on.probe.release(tag);
      const [ra, rb] = await Promise.all([a, b]);
      // The identity reaches bus subgraphs (signed); HTTP subgraphs get none.
      const who = transport === "http" ? "anonymous/-" : "alice/customer";
      expect(ra).toEqual({ status: 200, data: { whoami: `${who}/${tag}` } });
      expect(rb).toEqual(ra);
      expect(on.probe.calls(tag)).toBe(1);
      // On the operations listener too.
      const metrics = await (await fetch(`${on.opsUrl}/metrics`)).text();
      expect(metrics).toContain(`switchyard_subgraph_fetch_deduplicated_total{subgraph="${on.label}"}`);
      // The waiter kept a span of its own, in its own trace, linked to the request whose fetch answered it.
      const finished = spans.getFinishedSpans();
      const waiters = finished.filter((s) => s.attributes["switchyard.subgraph.deduplicated"] === true);
      expect(waiters.map((s) => s.name)).toEqual([`subgraph ${on.label}`]);
      const waiter = waiters[0];
      const linked = waiter?.links[0]?.context.traceId;
      expect(linked).toBeString();
      expect(linked).not.toBe(waiter?.spanContext().traceId as string);
      if (transport !== "http") {
        // The bus executor's span of the fetch that ran is in the linked trace.
        const ran = finished.filter((s) => s.name === `subgraph ${on.label}` && s.attributes["switchyard.subgraph.deduplicated"] !== true);
        expect(ran.map((s) => s.spanContext().traceId)).toEqual([linked as string]);
      }
    });

    test("operations that asked for subgraph timings are never shared (their fetch carries their own trace)", async () => {
      const tag = freshTag("timed");
      on.probe.hold(tag);
      const before = await deduplicated(on.label);
      const traced = { "x-switchyard-trace": "1" };
      const a = on.gql(WHOAMI, { tag }, alice, traced);
      const b = on.gql(WHOAMI, { tag }, alice, traced);
      await eventually("two executions", async () => on.probe.calls(tag) === 2);
      on.probe.release(tag);
      for (const r of await Promise.all([a, b])) expect(r.data).toEqual({ whoami: expect.stringContaining(tag) });
      expect(await deduplicated(on.label)).toBe(before);
    });

    test("anonymous callers share too; results are copies (one caller's list is not the other's)", async () => {
      const tag = freshTag("anon");
      on.probe.hold(tag);
      const before = await deduplicated(on.label);
      const q = "query Items($tag: String!) { items(tag: $tag) { id name } }";
      const a = on.gql(q, { tag });
      const b = on.gql(q, { tag });
      await eventually("the second fetch joined the first", async () => (await deduplicated(on.label)) === before + 1);
      on.probe.release(tag);
      const [ra, rb] = await Promise.all([a, b]);
      expect(ra.data).toEqual({
        items: [
          { id: "1", name: `one ${tag}` },
          { id: "2", name: `two ${tag}` },
        ],
      });
      expect(rb).toEqual(ra);
      expect(on.probe.calls(tag)).toBe(1);
    });

    test("two callers with different identities never share: two executions, each its own answer", async () => {
      const tag = freshTag("who");
      on.probe.hold(tag);
      const before = await deduplicated(on.label);
      const a = on.gql(WHOAMI, { tag }, alice);
      const b = on.gql(WHOAMI, { tag }, bob);
      const c = on.gql(WHOAMI, { tag }, await token("alice", ["customer", "admin"]));
      // Both (all three) reached the subgraph while the first was still held: nothing was shared.
      await eventually("three executions", async () => on.probe.calls(tag) === 3);
      on.probe.release(tag);
      const [ra, rb, rc] = await Promise.all([a, b, c]);
      if (transport !== "http") {
        expect(ra.data).toEqual({ whoami: `alice/customer/${tag}` });
        expect(rb.data).toEqual({ whoami: `bob/customer/${tag}` });
        expect(rc.data).toEqual({ whoami: `alice/customer,admin/${tag}` });
      } else for (const r of [ra, rb, rc]) expect(r.data).toEqual({ whoami: `anonymous/-/${tag}` });
      expect(await deduplicated(on.label)).toBe(before);
    });

    test("a mutation is never shared", async () => {
      const tag = freshTag("mut");
      on.probe.hold(tag);
      const before = await deduplicated(on.label);
      const q = "mutation Touch($tag: String!) { touch(tag: $tag) }";
      const a = on.gql(q, { tag }, alice);
      const b = on.gql(q, { tag }, alice);
      await eventually("two executions", async () => on.probe.calls(tag) === 2);
      on.probe.release(tag);
      for (const r of await Promise.all([a, b])) expect(r.data).toEqual({ touch: `touched ${tag}` });
      expect(await deduplicated(on.label)).toBe(before);
    });

    test("a subgraph error reaches every waiter", async () => {
      const tag = freshTag("err");
      on.probe.hold(tag);
      const before = await deduplicated(on.label);
      const q = "query Fail($tag: String!) { failing(tag: $tag) }";
      const a = on.gql(q, { tag }, alice);
      const b = on.gql(q, { tag }, alice);
      await eventually("the second fetch joined the first", async () => (await deduplicated(on.label)) === before + 1);
      on.probe.release(tag);
      const [ra, rb] = await Promise.all([a, b]);
      expect(ra.data).toEqual({ failing: null });
      expect(ra.errors?.length).toBe(1);
      expect(rb.data).toEqual(ra.data);
      expect(rb.errors?.map((e) => e.message)).toEqual(ra.errors?.map((e) => e.message) ?? []);
      expect(on.probe.calls(tag)).toBe(1);
    });

    test("a timeout reaches every waiter (SUBGRAPH_UNAVAILABLE for both)", async () => {
      const tag = freshTag("stuck");
      short.probe.hold(tag); // never released: every attempt times out
      const before = await deduplicated(short.label);
      const a = short.gql(WHOAMI, { tag }, alice);
      const b = short.gql(WHOAMI, { tag }, alice);
      await eventually("the second fetch joined the first", async () => (await deduplicated(short.label)) === before + 1);
      const [ra, rb] = await Promise.all([a, b]);
      for (const r of [ra, rb]) {
        expect(r.data?.["whoami"] ?? null).toBeNull();
        expect(r.errors?.map((e) => e.extensions?.["code"])).toEqual(["SUBGRAPH_UNAVAILABLE"]);
      }
      // Each attempt (the first and the call policy's retries) was one execution for both callers.
      expect(short.probe.calls(tag)).toBeLessThanOrEqual(DEFAULT_RETRY.maxAttempts + 1);
      short.probe.release(tag);
    }, 30_000);

    test("SUBGRAPH_DEDUP=false: identical queries of one caller each execute", async () => {
      const tag = freshTag("off");
      off.probe.hold(tag);
      const a = off.gql(WHOAMI, { tag }, alice);
      const b = off.gql(WHOAMI, { tag }, alice);
      await eventually("two executions", async () => off.probe.calls(tag) === 2);
      off.probe.release(tag);
      for (const r of await Promise.all([a, b])) expect(r.status).toBe(200);
      expect(await deduplicated(off.label)).toBe(0);
    });
  });
}
