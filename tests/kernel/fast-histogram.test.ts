import { describe, expect, test } from "bun:test";
import { Histogram, Registry } from "prom-client";
import { FastHistogram } from "../../src/kernel/fast-histogram.ts";

const BUCKETS = [0.0001, 0.001, 0.01, 0.1, 1];
const LABELS = ["module", "driver", "statement"] as const;

/** The same observations into prom-client's Histogram and a FastHistogram, each on its own registry. */
function both(): { observe(labels: Partial<Record<(typeof LABELS)[number], string | number>>, v: number): void; text(): Promise<[string, string]>; fast: FastHistogram<(typeof LABELS)[number]> } {
  const a = new Registry();
  const b = new Registry();
  const cfg = { name: "t_db_seconds", help: "test histogram (seconds).", labelNames: LABELS, buckets: BUCKETS };
  const prom = new Histogram({ ...cfg, registers: [a] });
  const fast = new FastHistogram({ ...cfg, registers: [b] });
  return {
    fast,
    observe(labels, v) {
      prom.observe(labels, v);
      fast.observe(labels, v);
    },
    text: async () => [await a.metrics(), await b.metrics()],
  };
}

describe("FastHistogram", () => {
  test("exposition text identical to prom-client's Histogram for the same observations", async () => {
    const h = both();
    const modules = ["order", "catalog", 'we"ird\\na\nme'];
    const kinds = ["select", "insert", "update"];
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 2000; i++) {
      const v = [0, 0.0001, 0.001, 1, 5, rnd() * 0.02, rnd() * 2][i % 7] as number;
      h.observe({ module: modules[i % 3] as string, driver: "sqlite", statement: kinds[Math.floor(rnd() * 3)] as string }, v);
    }
    // A label left out, and a numeric label value.
    h.observe({ module: "order", driver: "sqlite" }, 0.002);
    h.observe({ module: "order", driver: "sqlite", statement: 3 }, 0.002);
    const [prom, fast] = await h.text();
    expect(fast).toBe(prom);
    expect(fast).toContain('t_db_seconds_bucket{le="+Inf",module="order",driver="sqlite",statement="select"}');
  });

  test("an empty histogram and reset() expose the same as prom-client", async () => {
    const h = both();
    let [prom, fast] = await h.text();
    expect(fast).toBe(prom);
    h.observe({ module: "order", driver: "sqlite", statement: "insert" }, 0.5);
    h.fast.reset();
    [, fast] = await h.text();
    expect(fast).toBe(prom);
  });

  test("refuses non-finite values and unordered buckets", () => {
    const reg = new Registry();
    const fast = new FastHistogram({ name: "t_x", help: "x", labelNames: ["a"], buckets: [1, 2], registers: [reg] });
    expect(() => fast.observe({ a: "1" }, Number.NaN)).toThrow(TypeError);
    expect(() => new FastHistogram({ name: "t_y", help: "y", labelNames: ["a"], buckets: [2, 1], registers: [] })).toThrow(TypeError);
  });
});
