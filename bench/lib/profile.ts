import { readFileSync } from "node:fs";

/** The parts of a V8/JSC `.cpuprofile` this summary reads. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; hitCount?: number }[];
  samples?: number[];
}

/** One bucket of a profile summary: where samples landed and their share. */
export interface ProfileBucket {
  bucket: string;
  samples: number;
  /** Share of the non-idle samples, 0..1. */
  share: number;
}

/**
 * Which part of the stack a frame belongs to: the npm package (`@graphql-tools/delegate`,
 * `graphql/execution`, `hono`, ...), the project folder (`src/kernel/bus`, `bench/fixture`),
 * or the native function name for frames without a file (`JSON.stringify` shows as
 * `native stringify`). Idle and GC samples are named as such.
 */
export function bucketOf(url: string, functionName: string): string {
  if (!url) {
    if (/^\(?(idle|program)\)?$/.test(functionName)) return "(idle)";
    if (/garbage/i.test(functionName)) return "(gc)";
    return `native ${functionName || "(anonymous)"}`;
  }
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const parts = url.slice(nm + "node_modules/".length).split("/");
    const pkg = parts[0]?.startsWith("@") ? `${parts[0]}/${parts[1]}` : (parts[0] ?? url);
    // graphql-js: split execution from language (parse/print/visit) and validation.
    if (pkg === "graphql" && parts[1]) return `graphql/${parts[1]}`;
    return pkg;
  }
  const m = /\/(src|bench)\/(.+)\/[^/]+$/.exec(url);
  return m ? `${m[1]}/${m[2]}` : url;
}

/**
 * Sums a `.cpuprofile`'s samples by {@link bucketOf} (self time: each sample counts for the
 * frame it was taken in), largest first, shares of non-idle samples. Sample counts are used
 * rather than time deltas, so a descheduled process does not inflate one frame.
 */
export function summarizeProfile(file: string, top = 15): ProfileBucket[] {
  const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const counts = new Map<number, number>();
  if (p.samples?.length) for (const id of p.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  else for (const n of p.nodes) counts.set(n.id, n.hitCount ?? 0);
  const byBucket = new Map<string, number>();
  for (const n of p.nodes) {
    const c = counts.get(n.id) ?? 0;
    if (!c) continue;
    const b = bucketOf(n.callFrame.url, n.callFrame.functionName);
    byBucket.set(b, (byBucket.get(b) ?? 0) + c);
  }
  const busy = [...byBucket].filter(([b]) => b !== "(idle)").reduce((s, [, c]) => s + c, 0) || 1;
  return [...byBucket]
    .filter(([b]) => b !== "(idle)")
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([bucket, samples]) => ({ bucket, samples, share: samples / busy }));
}

if (import.meta.main) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write("usage: bun bench/lib/profile.ts <file.cpuprofile> [top]\n");
    process.exit(2);
  }
  for (const b of summarizeProfile(file, Number(process.argv[3] ?? 20)))
    process.stdout.write(`${(b.share * 100).toFixed(1).padStart(5)}%  ${String(b.samples).padStart(6)}  ${b.bucket}\n`);
}
