/**
 * Builds a standalone executable with `Bun.build({ compile })` (what `npm run build` runs).
 *
 *   bun scripts/build.ts                          # src/main.ts → dist/switchyard
 *   SWITCHYARD_OUTFILE=/tmp/x bun scripts/build.ts # another output path
 *
 * Why not plain `bun build --compile`: the etcd3 client loads its gRPC service definitions at
 * run time with `@grpc/proto-loader`'s `loadSync(`${__dirname}/../proto/rpc.proto`)`. In a
 * compiled binary `__dirname` is frozen to the build machine's node_modules path, so the binary
 * only works where that directory still exists. {@link etcdProtoPlugin} parses the .proto files
 * at build time (with the protobufjs that proto-loader itself uses) and rewrites that call to
 * `fromJSON(<embedded descriptor>, <same options>)`, proto-loader's loader for a protobufjs JSON
 * descriptor: same package definition, no file access.
 */

import { existsSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import type { BunPlugin } from "bun";

const ROOT = resolve(import.meta.dir, "..");

export interface BuildBinaryOptions {
  /** Entry module, e.g. `src/main.ts` (relative to the repository root, or absolute). */
  entry: string;
  /** Executable to write (relative to the current directory, or absolute); its directory is created. */
  outfile: string;
}

/** The slice of protobufjs used here (resolved from proto-loader, whose copy reads the JSON back). */
interface ProtobufJs {
  Root: new () => { loadSync(file: string, opts: { keepCase: boolean }): { resolveAll(): unknown; toJSON(): object } };
}

/** The call in etcd3/lib/connection-pool.js that reads the .proto files from disk. */
const ETCD_LOAD_CALL = /\(0,\s*proto_loader_1\.loadSync\)\(`\$\{__dirname\}\/\.\.\/proto\/rpc\.proto`,/;

/**
 * Parses etcd3's `rpc.proto` (and its imports) into a protobufjs JSON descriptor, exactly as
 * proto-loader's `loadSync` would parse it (`keepCase: true` is what etcd3 passes).
 * @param connectionPoolPath path of etcd3/lib/connection-pool.js; the protos are in ../proto.
 */
export function etcdProtoDescriptor(connectionPoolPath: string): object {
  const fromEtcd = createRequire(connectionPoolPath);
  const fromLoader = createRequire(fromEtcd.resolve("@grpc/proto-loader"));
  const protobuf = fromLoader("protobufjs") as ProtobufJs;
  const root = new protobuf.Root().loadSync(join(dirname(connectionPoolPath), "../proto/rpc.proto"), { keepCase: true });
  root.resolveAll();
  return root.toJSON();
}

/**
 * Bun build plugin: embeds etcd3's gRPC descriptor (see the module comment).
 * @throws at build time if etcd3's loading code no longer matches (an etcd3 upgrade): the
 *   binary would otherwise build fine and fail only where node_modules is absent.
 */
export function etcdProtoPlugin(): BunPlugin {
  return {
    name: "switchyard-etcd3-embedded-protos",
    setup(build) {
      build.onLoad({ filter: /[\\/]etcd3[\\/]lib[\\/]connection-pool\.js$/ }, async (args) => {
        const source = await Bun.file(args.path).text();
        if (!ETCD_LOAD_CALL.test(source)) {
          throw new Error(`${args.path}: etcd3 no longer loads ../proto/rpc.proto the expected way; update scripts/build.ts`);
        }
        const json = JSON.stringify(etcdProtoDescriptor(args.path));
        // JSON.parse of a string literal: cheaper to start than the same object as JS source.
        const contents = source.replace(ETCD_LOAD_CALL, `(0, proto_loader_1.fromJSON)(JSON.parse(${JSON.stringify(json)}),`);
        return { contents, loader: "js" };
      });
    },
  };
}

/**
 * Bun build plugin: embeds the Rust query planner's N-API addon (`QUERY_PLANNER=rust`).
 * `@graphql-hive/router-query-planner` (napi-rs) picks its `.node` file at run time through a
 * `createRequire(import.meta.url)` require, which the bundler cannot follow, so a compiled binary
 * would look for the file next to a `node_modules` that is not there. The loader module is
 * replaced by a static `require` of the addon for the platform being built (what napi-rs's loader
 * would pick here), which `--compile` embeds in the executable. The library code is unchanged.
 * @throws at build time when the package has no addon for this platform.
 */
export function queryPlannerAddonPlugin(): BunPlugin {
  return {
    name: "switchyard-query-planner-addon",
    setup(build) {
      build.onLoad({ filter: /[\\/]@graphql-hive[\\/]router-query-planner[\\/]dist[\\/]index\.js$/ }, (args) => {
        const libc = process.platform === "linux" ? (process.report?.getReport?.() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime ? "-gnu" : "-musl" : "";
        const addon = `hive_router_query_planner.${process.platform}-${process.arch}${libc}.node`;
        if (!existsSync(join(dirname(args.path), addon))) throw new Error(`${args.path}: no ${addon} for this platform; QUERY_PLANNER=rust cannot be compiled in`);
        return { contents: `const binding = require(${JSON.stringify(`./${addon}`)});\nexport const QueryPlanner = binding.QueryPlanner;\n`, loader: "js" };
      });
    },
  };
}

/**
 * Compiles `entry` into a standalone executable at `outfile` (`--minify-syntax`, inline source
 * map, etcd3 protos embedded).
 * @throws Error with Bun's build messages when the build fails.
 */
export async function buildBinary(opts: BuildBinaryOptions): Promise<void> {
  const outfile = resolve(opts.outfile);
  mkdirSync(dirname(outfile), { recursive: true });
  const result = await Bun.build({
    entrypoints: [resolve(ROOT, opts.entry)],
    compile: { outfile },
    minify: { syntax: true },
    sourcemap: "inline",
    plugins: [etcdProtoPlugin(), queryPlannerAddonPlugin()],
  });
  if (!result.success) {
    throw new Error(`build of ${opts.entry} failed:\n${result.logs.map((l) => String(l)).join("\n")}`);
  }
}

if (import.meta.main) {
  const outfile = process.env["SWITCHYARD_OUTFILE"] || "dist/switchyard";
  try {
    await buildBinary({ entry: "src/main.ts", outfile });
    console.log(`built ${outfile}`);
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  }
}
