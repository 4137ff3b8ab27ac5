import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startMonolith, type Topology } from "../helpers/topology.ts";
import { buildTestBinary } from "../helpers/binary.ts";
import { startSplit, type SplitTopology } from "../../scripts/split-topology.ts";
import { orderFlow } from "./flows.ts";

/**
 * The single binary: `npm run build` (bun build --compile) produces dist/switchyard; here we
 * build it the same way into a temp dir, copy it to a directory WITHOUT node_modules, and
 * run the order flow against it.
 */
describe("compiled binary", () => {
  let dir: string;
  let bin: string;
  let t: Topology | undefined;
  let split: SplitTopology | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "switchyard-bin-"));
    bin = await buildTestBinary(dir);
  }, 180_000);

  afterAll(async () => {
    await t?.stop();
    await split?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("builds a standalone executable", () => {
    expect(existsSync(bin)).toBe(true);
  });

  test("--help works from the binary", async () => {
    const p = Bun.spawn([bin, "--help"], { cwd: dir, stdout: "pipe" });
    expect(await p.exited).toBe(0);
    expect(await new Response(p.stdout).text()).toContain("MODULES");
  });

  test("serves the order flow (monolith mode), run from a directory without node_modules", async () => {
    t = await startMonolith({ command: [bin], cwd: dir });
    await orderFlow(t.graphqlUrl);
    await t.stop();
    t = undefined;
  }, 120_000);

  test("serves the order flow in split mode (4 binary processes on NATS, etcd, PostgreSQL)", async () => {
    split = await startSplit({ command: [bin], cwd: dir });
    for (const p of split.processes) expect(p.server.output()).toContain('"bus":"nats"');
    await orderFlow(split.graphqlUrl);
  }, 180_000);
});
