/**
 * etcd from a compiled binary: etcd3 loads its .proto files from node_modules at run time, which
 * a `bun build --compile` binary only finds on the machine that built it (Bun freezes
 * `__dirname` to the build path). scripts/build.ts embeds the descriptor instead; here we build
 * tests/fixtures/etcd-probe.ts with it, copy the binary to a directory without node_modules and
 * run it against a real etcd with the repository's node_modules hidden (a private mount
 * namespace with a tmpfs over it, where `unshare` is allowed), and check a plain build fails
 * there, so the check can fail.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBinary, etcdProtoDescriptor } from "../../scripts/build.ts";
import { startEtcd, type EtcdServer } from "../../scripts/devservers/etcd.ts";
import { ROOT } from "../helpers/topology.ts";

const NODE_MODULES = join(ROOT, "node_modules");
const CONNECTION_POOL = join(NODE_MODULES, "etcd3/lib/connection-pool.js");
const RPC_PROTO = join(NODE_MODULES, "etcd3/proto/rpc.proto");

/** Runs `cmd` with the repository's node_modules hidden behind an empty tmpfs. */
const hidden = (cmd: string[]): string[] => [
  "unshare",
  "-m",
  "sh",
  "-c",
  'mount -t tmpfs tmpfs "$1" && shift && exec "$@"',
  "sh",
  NODE_MODULES,
  ...cmd,
];

/** Whether this machine lets us hide a directory (root or user namespaces; not in every CI). */
const CAN_HIDE = (() => {
  try {
    return Bun.spawnSync(hidden(["true"]), { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
  } catch {
    return false;
  }
})();

interface ProbeOutput {
  listed: Array<{ name: string; metadata: Record<string, string> }>;
  events: string[];
  version: number;
  leading: boolean;
  protoVisible?: boolean;
}

async function run(cmd: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn(cmd, { cwd, stdout: "pipe", stderr: "pipe", env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin" } });
  const [code, stdout, stderr] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code, stdout, stderr };
}

describe("etcd from the compiled binary", () => {
  let dir: string;
  let probe: string;
  let etcd: EtcdServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "switchyard-etcd-bin-"));
    [etcd] = await Promise.all([
      startEtcd(),
      buildBinary({ entry: "tests/fixtures/etcd-probe.ts", outfile: join(dir, "build", "etcd-probe") }),
    ]);
    probe = join(dir, "run", "etcd-probe");
    Bun.spawnSync(["mkdir", "-p", join(dir, "run")]);
    copyFileSync(join(dir, "build", "etcd-probe"), probe);
    rmSync(join(dir, "build"), { recursive: true, force: true });
  }, 120_000);

  afterAll(async () => {
    await etcd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the embedded descriptor yields the same gRPC services and encodings as etcd3's .proto files", () => {
    const loader = createRequire(createRequire(CONNECTION_POOL).resolve("@grpc/proto-loader"))("@grpc/proto-loader") as {
      loadSync(file: string, opts: object): Record<string, Record<string, unknown>>;
      fromJSON(json: object, opts: object): Record<string, Record<string, unknown>>;
    };
    // The options etcd3 passes.
    const opts = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
    const fromFiles = loader.loadSync(RPC_PROTO, opts);
    const embedded = loader.fromJSON(etcdProtoDescriptor(CONNECTION_POOL), opts);
    expect(Object.keys(embedded).sort()).toEqual(Object.keys(fromFiles).sort());
    const methods = (def: Record<string, Record<string, unknown>>, service: string): string[] =>
      Object.entries(def[service] ?? {})
        .map(([name, m]) => `${name} ${(m as { path: string }).path}`)
        .sort();
    for (const service of ["KV", "Watch", "Lease", "Cluster", "Maintenance", "Auth"]) {
      expect(methods(embedded, `etcdserverpb.${service}`)).toEqual(methods(fromFiles, `etcdserverpb.${service}`));
    }
    // A put under a lease: bytes and an int64 lease id beyond 2^53 must encode identically.
    type Method = { requestSerialize(v: object): Buffer };
    const put = { key: Buffer.from("/k"), value: Buffer.from("v"), lease: "7587879341227391234" };
    const a = (fromFiles["etcdserverpb.KV"]!["Put"] as Method).requestSerialize(put);
    const b = (embedded["etcdserverpb.KV"]!["Put"] as Method).requestSerialize(put);
    expect(b.equals(a)).toBe(true);
  });

  test("the binary does not reference etcd3's .proto files", () => {
    expect(readFileSync(probe).includes("../proto/rpc.proto")).toBe(false);
  });

  test("the probe binary registers, lists, watches, publishes and campaigns from a directory without node_modules", async () => {
    const args = [probe, etcd.url, "/probe-a", RPC_PROTO];
    const { code, stdout, stderr } = await run(CAN_HIDE ? hidden(args) : args, join(dir, "run"));
    if (!CAN_HIDE) console.warn("unshare not permitted here: ran the probe without hiding node_modules");
    expect({ code, stderr: code === 0 ? "" : stderr }).toEqual({ code: 0, stderr: "" });
    const out = JSON.parse(stdout.trim()) as ProbeOutput;
    expect(out.listed.map((i) => i.name)).toEqual(["probe"]);
    expect(out.events).toEqual(["join:probe", "leave:probe"]);
    expect(out.version).toBe(1);
    expect(out.leading).toBe(true);
    if (CAN_HIDE) expect(out.protoVisible).toBe(false);
  }, 30_000);

  test.skipIf(!CAN_HIDE)(
    "a plain `bun build --compile` of the same probe fails there (the check can fail)",
    async () => {
      const plain = join(dir, "plain", "etcd-probe");
      const build = await run(
        [process.execPath, "build", "--compile", join(ROOT, "tests/fixtures/etcd-probe.ts"), "--outfile", plain],
        ROOT,
      );
      expect(build.code).toBe(0);
      const { code, stderr } = await run(hidden([plain, etcd.url, "/probe-b"]), join(dir, "run"));
      expect(code).not.toBe(0);
      expect(stderr).toContain("rpc.proto");
    },
    60_000,
  );
});
