import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./topology.ts";

/** The `ENV` instructions of a Dockerfile stage text (`ENV A=1 \` continuation lines included), in order. */
export function dockerfileEnv(stage: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of stage.matchAll(/^ENV ((?:[^\n]*\\\n)*[^\n]*)$/gm)) {
    const body = (m[1] ?? "").replace(/\\\n/g, " ");
    for (const pair of body.trim().split(/\s+/)) {
      const eq = pair.indexOf("=");
      if (eq <= 0) throw new Error(`unsupported ENV syntax: ${pair}`);
      env[pair.slice(0, eq)] = pair.slice(eq + 1).replace(/^"(.*)"$/, "$1");
    }
  }
  return env;
}

/** The environment the shipped image gives the binary: the runtime (last) stage's `ENV` lines. */
export function imageEnv(): Record<string, string> {
  const stages = readFileSync(join(ROOT, "Dockerfile"), "utf8").split(/^FROM /m);
  return dockerfileEnv(stages.at(-1) ?? "");
}

/** The parts of fly.toml the deployment tests read. */
export interface FlyToml {
  env: Record<string, string>;
  processes: Record<string, string>;
  metrics?: { port: number; path: string };
  deploy: { release_command: string };
  http_service: { internal_port: number; processes: string[]; checks: { path: string }[] };
  checks: Record<string, { path: string; port: number; processes: string[] }>;
}

/** fly.toml, parsed. */
export function flyToml(): FlyToml {
  return Bun.TOML.parse(readFileSync(join(ROOT, "fly.toml"), "utf8")) as FlyToml;
}
