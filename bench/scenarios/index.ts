import type { ScenarioResult } from "../lib/report.ts";
import { COLDSTART_DESCRIBE, coldstartScenario } from "./coldstart.ts";
import { ORDERS_DESCRIBE, ordersScenario } from "./orders.ts";
import { SEARCH_DESCRIBE, searchScenario } from "./search.ts";

/** What a scenario gets from the runner. */
export interface ScenarioContext {
  log(line: string): void;
  /** Measured window, s (`BENCH_DURATION_S`). */
  durationS: number;
  /** CPU lists for servers and wrk (taskset), undefined = not pinned. */
  serverCpus: string | undefined;
  loadCpus: string | undefined;
}

export interface ScenarioDef {
  describe: string;
  run(ctx: ScenarioContext): Promise<ScenarioResult>;
}

/** Scenarios on Switchyard's own modules, runnable by name: `npm run bench -- orders search coldstart`. */
export const SCENARIO_NAMES = ["orders", "search", "coldstart"] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export const SCENARIOS: Record<ScenarioName, ScenarioDef> = {
  orders: { describe: ORDERS_DESCRIBE, run: ordersScenario },
  search: { describe: SEARCH_DESCRIBE, run: searchScenario },
  coldstart: { describe: COLDSTART_DESCRIBE, run: coldstartScenario },
};
