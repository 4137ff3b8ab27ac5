/**
 * A Prometheus histogram with prom-client's exposition and a cheaper `observe`.
 *
 * prom-client's `Histogram.observe(labels, value)` validates the label names, sorts and hashes
 * the labels object and searches the bucket on every call: with ~15 observations per
 * createOrder (SQL statements, bus requests and handlers, HTTP, GraphQL) that was ~3% of the
 * orders benchmark's CPU. Here a series is found by one Map lookup per label value, in the
 * declared label order (no key string built per call), and its bucket counts are plain numbers.
 *
 * Exposition is the same text prom-client writes for a `Histogram` (same value lines, same
 * order: a series' buckets with `le` first, `+Inf`, `_sum`, `_count`), checked against
 * prom-client in tests/kernel/fast-histogram.test.ts; it registers on a prom-client
 * `Registry` like any metric.
 */
import type { Registry } from "prom-client";

/** Label values of one observation; labels left out are absent from the series (as in prom-client). */
export type HistogramLabels<L extends string> = Partial<Record<L, string | number>>;

/** Stands for a label left out of an observation (distinct from any value). */
const ABSENT = Symbol("absent");
type LabelKey = string | number | typeof ABSENT;
/** Series by the value of each label in turn; the last level holds the series. */
type Level = Map<LabelKey, Level | Series>;

/** One label set's counts. */
interface Series {
  labels: Record<string, string | number>;
  /** Observations per bucket (not cumulative); the last slot is above the highest bound (`+Inf`). */
  counts: number[];
  sum: number;
  count: number;
}

/** One exposition line as prom-client's registry formats it. */
interface ValuePair {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/** What a prom-client registry reads from a metric. */
interface MetricData {
  name: string;
  help: string;
  type: "histogram";
  values: ValuePair[];
  aggregator: "sum";
}

export interface FastHistogramConfig<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  /** Upper bounds, ascending (seconds for durations). */
  buckets: readonly number[];
  /** Registries to register on (prom-client `Registry.registerMetric`). */
  registers: readonly Registry[];
}

/** See the module comment. Same `observe(labels, value)` call as prom-client's `Histogram`. */
export class FastHistogram<L extends string = string> {
  readonly name: string;
  readonly help: string;
  readonly type = "histogram" as const;
  readonly aggregator = "sum" as const;
  readonly #labelNames: readonly L[];
  readonly #bounds: readonly number[];
  /** Every series, in creation order (the exposition order, as prom-client's). */
  readonly #series: Series[] = [];
  #root: Level = new Map();

  /** @throws TypeError when the buckets are not ascending finite numbers. */
  constructor(config: FastHistogramConfig<L>) {
    this.name = config.name;
    this.help = config.help;
    this.#labelNames = [...config.labelNames];
    this.#bounds = [...config.buckets];
    if (this.#bounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= (this.#bounds[i - 1] as number)))) {
      throw new TypeError(`${config.name}: buckets must be ascending finite numbers`);
    }
    // A prom-client registry needs name/help/type/get/reset only; the cast is to its Metric type.
    for (const r of config.registers) r.registerMetric(this as unknown as Parameters<Registry["registerMetric"]>[0]);
  }

  /**
   * Counts `value` (e.g. seconds) in its bucket of the series `labels`.
   * @throws TypeError when `value` is not a finite number (as prom-client).
   */
  observe(labels: HistogramLabels<L>, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const s = this.#find(labels);
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    (s.counts[i] as number)++;
    s.sum += value;
    s.count++;
  }

  /** The series of `labels`, created on first use. */
  #find(labels: HistogramLabels<L>): Series {
    const names = this.#labelNames;
    let level = this.#root;
    for (let i = 0; i < names.length; i++) {
      const v = labels[names[i] as L];
      // A number and its string form are one series, as in prom-client (labels are text).
      const k: LabelKey = v === undefined ? ABSENT : typeof v === "number" ? String(v) : v;
      const next = level.get(k);
      if (next !== undefined) {
        if (i === names.length - 1) return next as Series;
        level = next as Level;
        continue;
      }
      if (i === names.length - 1) {
        const created = this.#newSeries(labels);
        level.set(k, created);
        return created;
      }
      const child: Level = new Map();
      level.set(k, child);
      level = child;
    }
    // No label names: one series under the root.
    const only = level.get(ABSENT);
    if (only !== undefined) return only as Series;
    const created = this.#newSeries(labels);
    level.set(ABSENT, created);
    return created;
  }

  #newSeries(labels: HistogramLabels<L>): Series {
    const own: Record<string, string | number> = {};
    for (const n of this.#labelNames) {
      const v = labels[n];
      if (v !== undefined) own[n] = v;
    }
    const s: Series = { labels: own, counts: new Array<number>(this.#bounds.length + 1).fill(0), sum: 0, count: 0 };
    this.#series.push(s);
    return s;
  }

  /** Forgets every series (prom-client `reset`). */
  reset(): void {
    this.#series.length = 0;
    this.#root = new Map();
  }

  /** The exposition data in the shape prom-client's registry formats (series labels shared). */
  async getForPromString(): Promise<MetricData> {
    const values: ValuePair[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.#series) {
      let acc = 0;
      this.#bounds.forEach((le, i) => {
        acc += s.counts[i] as number;
        values.push({ labels: { le }, sharedLabels: s.labels, value: acc, metricName: bucket });
      });
      values.push({ labels: { le: "+Inf" }, sharedLabels: s.labels, value: s.count, metricName: bucket });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The metric as prom-client's `get()` returns it (labels merged per value), for JSON output. */
  async get(): Promise<MetricData> {
    const data = await this.getForPromString();
    return { ...data, values: data.values.map((v) => ({ ...v, labels: { ...v.labels, ...v.sharedLabels }, sharedLabels: {} })) };
  }
}
