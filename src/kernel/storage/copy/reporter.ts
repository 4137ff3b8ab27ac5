/** Where a copy reports its progress (stderr in the CLI). */
export interface CopyReporter {
  /** A module's copy starts: `total` rows in its snapshot, `done` of them copied by an earlier, interrupted run. */
  moduleStart(module: string, total: number, done: number): void;
  tableStart(module: string, table: string, total: number, done: number): void;
  /** `added` rows were committed; `done` of the table's `total` are now in the target. */
  rowsCopied(module: string, table: string, done: number, total: number, added: number): void;
  tableDone(module: string, table: string, rows: number): void;
  moduleDone(module: string): void;
}

/** A text sink (`process.stderr`). */
export interface TextOut {
  write(text: string): unknown;
}

/** How progress is shown: a redrawn bar (terminals), plain lines (logs, CI), or nothing. */
export type ProgressMode = "bar" | "lines" | "none";

/** Interval between two plain progress lines of one table, ms. */
export const LINE_INTERVAL_MS = 2000;
/** Interval between two redraws of the bar, ms. */
const BAR_INTERVAL_MS = 100;
const BAR_WIDTH = 24;

/** Reports nothing. */
export const SILENT: CopyReporter = {
  moduleStart() {},
  tableStart() {},
  rowsCopied() {},
  tableDone() {},
  moduleDone() {},
};

/** `1h02m`, `3m04s`, `12s`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/** Rows per second of this run (rows of an earlier run excluded) and the time left at that rate. */
class Rate {
  readonly #started: number;
  #copied = 0;
  constructor(readonly now: () => number) {
    this.#started = now();
  }
  add(n: number): void {
    this.#copied += n;
  }
  perSecond(): number {
    const s = (this.now() - this.#started) / 1000;
    return s > 0 ? this.#copied / s : 0;
  }
  /** ms left for `remaining` rows, or null before the first rows. */
  eta(remaining: number): number | null {
    const r = this.perSecond();
    return r > 0 ? (remaining / r) * 1000 : null;
  }
}

/**
 * A progress reporter: `bar` redraws one line per module on a terminal (rows done/total,
 * rows/s, ETA); `lines` writes one line when a table starts and ends and at most every
 * {@link LINE_INTERVAL_MS} in between (rows done/total, rows/s, the table's ETA); `none` is {@link SILENT}.
 * @param now clock, ms (tests pass their own).
 */
export function createReporter(mode: ProgressMode, out: TextOut, now: () => number = Date.now): CopyReporter {
  if (mode === "none") return SILENT;
  return mode === "bar" ? barReporter(out, now) : lineReporter(out, now);
}

function lineReporter(out: TextOut, now: () => number): CopyReporter {
  let rate = new Rate(now);
  let lastLine = 0;
  return {
    moduleStart(module, total, done) {
      rate = new Rate(now);
      out.write(`${module}: ${total} rows to copy${done > 0 ? ` (${done} copied by an earlier run, resuming)` : ""}\n`);
    },
    tableStart(module, table, total, done) {
      lastLine = now();
      out.write(`${module}.${table}: started, ${done}/${total} rows\n`);
    },
    rowsCopied(module, table, done, total, added) {
      rate.add(added);
      if (now() - lastLine < LINE_INTERVAL_MS) return;
      lastLine = now();
      const eta = rate.eta(total - done);
      out.write(
        `${module}.${table}: ${done}/${total} rows, ${Math.round(rate.perSecond())} rows/s${eta === null ? "" : `, ETA ${formatDuration(eta)}`}\n`,
      );
    },
    tableDone(module, table, rows) {
      out.write(`${module}.${table}: done, ${rows} rows\n`);
    },
    moduleDone(module) {
      out.write(`${module}: copied\n`);
    },
  };
}

function barReporter(out: TextOut, now: () => number): CopyReporter {
  let rate = new Rate(now);
  let total = 0;
  let done = 0;
  let table = "";
  let lastDraw = 0;
  const draw = (module: string, force: boolean): void => {
    if (!force && now() - lastDraw < BAR_INTERVAL_MS) return;
    lastDraw = now();
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(frac * BAR_WIDTH);
    const eta = rate.eta(total - done);
    const etaText = done >= total ? "" : eta === null ? "  ETA --" : `  ETA ${formatDuration(eta)}`;
    out.write(
      `\r\x1b[2K${module} [${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${done}/${total} rows  ${Math.round(rate.perSecond())} rows/s${etaText}${table ? `  ${table}` : ""}`,
    );
  };
  return {
    moduleStart(module, t, d) {
      rate = new Rate(now);
      total = t;
      done = d;
      table = "";
      draw(module, true);
    },
    tableStart(module, t) {
      table = t;
      draw(module, false);
    },
    rowsCopied(module, _t, _done, _total, added) {
      rate.add(added);
      done += added;
      draw(module, false);
    },
    tableDone() {},
    moduleDone(module) {
      table = "";
      draw(module, true);
      out.write("\n");
    },
  };
}
