import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runGatewayBench } from "../../bench/gateways.ts";
import { benchQuery, expectedResponse } from "../../bench/fixture/data.ts";
import { checkArgs, runWrk, verifyTarget } from "../../bench/lib/wrk.ts";
import { TARGETS, createSharedDeps, type RunningTarget, type SharedDeps, type TargetName } from "../../bench/targets.ts";

/**
 * Smoke version of `npm run bench` so the harness does not rot: each target for a few seconds,
 * asserting correctness only (every response equal to the fixture's expected response), never
 * timings. wrk is installed by `npm test`'s system dependency check.
 */
describe("benchmark harness (smoke)", () => {
  test("switchyard-monolith, switchyard-http, hive-gateway-bun, apollo-gateway and ceiling answer the fixture operation exactly", async () => {
    // hive-gateway-node runs the same script as hive-gateway-bun; left out to keep this short.
    const targets: TargetName[] = ["switchyard-monolith", "switchyard-http", "hive-gateway-bun", "apollo-gateway", "ceiling"];
    const results = await runGatewayBench({
      targets,
      // A 1 s warm-up first: a cold JIT on a busy machine can take more than a 1 s window for
      // its first answers, and a round in which nothing completes counts as a failure.
      durationS: 2,
      warmupS: 1,
      rounds: 1,
      connections: 2,
      singleS: 0,
      serverCpus: undefined,
      loadCpus: undefined,
      verifyCount: 4,
      log: () => {},
    });
    expect(results.map((r) => ({ name: r.name, correct: r.correct, problem: r.problem }))).toEqual(
      targets.map((name) => ({ name, correct: true, problem: undefined })),
    );
    for (const r of results) {
      expect(r.checked).toBeGreaterThan(0);
      expect(r.rounds[0]?.checked).toBe(r.rounds[0]?.requests);
    }
  }, 120_000);

  describe("the checks can fail", () => {
    let dir: string;
    let deps: SharedDeps;
    let ceiling: RunningTarget;
    const body = JSON.stringify({ query: benchQuery() });
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "switchyard-bench-test-"));
      deps = createSharedDeps(dir, () => {});
      ceiling = await TARGETS.ceiling.start(deps);
    });
    afterAll(async () => {
      await ceiling?.stop();
      await deps?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    test("verification rejects a response that differs from the expected one", async () => {
      const expected = JSON.parse(expectedResponse()) as { data: { users: { name: string }[] } };
      const good = await verifyTarget(ceiling.url, body, expected, 2, 1);
      expect(good.ok).toBe(true);
      expect(good.canonical?.trim()).toBe(expectedResponse().trim());
      (expected.data.users[0] as { name: string }).name = "Someone Else";
      const bad = await verifyTarget(ceiling.url, body, expected, 2, 1);
      expect(bad.ok).toBe(false);
      expect(bad.problem).toContain("$.data.users.0.name");
    });

    test("wrk's Lua check counts every response that is not byte-equal to the verified body", async () => {
      const canonical = join(dir, "tampered");
      writeFileSync(canonical, expectedResponse().trim().replace("Uri Goldshtein", "Uri Goldshteim"));
      const bodyFile = join(dir, "request.json");
      writeFileSync(bodyFile, body);
      const r = await runWrk({
        url: ceiling.url,
        connections: 1,
        durationS: 1,
        scriptArgs: checkArgs(canonical, bodyFile, "smoke"),
        cpus: undefined,
      });
      expect(r.requests).toBeGreaterThan(0);
      expect(r.wrong).toBe(r.checked);
      expect(r.badStatus).toBe(0);
    });
  });
});
