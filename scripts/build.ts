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
import type { Kernel } from "../src/kernel/kernel.ts";
import type { ModuleDefinition } from "../src/kernel/module.ts";
import type { SubgraphSdl } from "../src/gateway/federation/compose.ts";
import type { PrebuiltSubgraph } from "../src/kernel/subgraph/schema.ts";

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
        const libc =
          process.platform === "linux"
            ? (process.report?.getReport?.() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime
              ? "-gnu"
              : "-musl"
            : "";
        const addon = `hive_router_query_planner.${process.platform}-${process.arch}${libc}.node`;
        if (!existsSync(join(dirname(args.path), addon)))
          throw new Error(`${args.path}: no ${addon} for this platform; QUERY_PLANNER=rust cannot be compiled in`);
        return {
          contents: `const binding = require(${JSON.stringify(`./${addon}`)});\nexport const QueryPlanner = binding.QueryPlanner;\n`,
          loader: "js",
        };
      });
    },
  };
}

/** The module definitions of src/module-list.ts (what each module's `register(kernel)` adds). */
export async function moduleDefinitions(): Promise<ModuleDefinition[]> {
  const { MODULES } = await import("../src/module-list.ts");
  const defs: ModuleDefinition[] = [];
  // A module's register(kernel) only hands its definition to kernel.addModule.
  const collector: Pick<Kernel, "addModule"> = { addModule: (def) => void defs.push(def) };
  for (const register of Object.values(MODULES)) register(collector as Kernel);
  return defs;
}

/** The slice of `@apollo/federation-internals` (the copy `@apollo/subgraph` uses) that buildSubgraphSchema runs. */
interface FederationInternals {
  FEDERATION_UNNAMED_SUBGRAPH_NAME: string;
  buildSubgraph(
    name: string,
    url: string,
    source: import("graphql").DocumentNode,
    withRootTypeRenaming?: boolean,
  ): {
    schema: { toAST(): import("graphql").DocumentNode; schemaDefinition: { rootType(kind: "query"): { name: string } | undefined } };
    metadata(): { entityType(): unknown };
  };
  printSchema(schema: unknown): string;
}

/**
 * The `@apollo/federation-internals` half of `buildSubgraphSchema({ typeDefs: parse(typeDefs) })`
 * (@apollo/subgraph 2.x): validation and completion of one SDL, as a {@link PrebuiltSubgraph}.
 * @throws the federation errors of an invalid SDL.
 */
export async function completeSubgraph(typeDefs: string): Promise<PrebuiltSubgraph> {
  const { concatAST, parse, print } = await import("graphql");
  const fed = createRequire(createRequire(import.meta.path).resolve("@apollo/subgraph"))(
    "@apollo/federation-internals",
  ) as FederationInternals;
  // As buildSubgraphSchema does with a single { typeDefs } module: its typeDefs concatenated.
  const subgraph = fed.buildSubgraph(fed.FEDERATION_UNNAMED_SUBGRAPH_NAME, "", concatAST([parse(typeDefs)]), false);
  const queryType = subgraph.schema.schemaDefinition.rootType("query")?.name;
  if (!queryType) throw new Error("the subgraph has no query root");
  return {
    schemaSdl: print(subgraph.schema.toAST()),
    serviceSdl: fed.printSchema(subgraph.schema),
    queryType,
    hasEntities: Boolean(subgraph.metadata().entityType()),
  };
}

/**
 * What a subgraph schema answers to `{ _service { sdl } }` (the query the aggregator sends,
 * src/gateway/federation/fetch-sdl.ts), or undefined when it answers no string.
 */
async function serviceSdlOf(schema: import("graphql").GraphQLSchema): Promise<string | undefined> {
  const [{ graphql }, { SERVICE_SDL_QUERY }] = await Promise.all([import("graphql"), import("../src/gateway/federation/fetch-sdl.ts")]);
  const sdl = ((await graphql({ schema, source: SERVICE_SDL_QUERY })).data as { _service?: { sdl?: unknown } } | null | undefined)?._service
    ?.sdl;
  return typeof sdl === "string" ? sdl : undefined;
}

/**
 * Runs, for every module SDL, the `@apollo/federation-internals` half of `buildSubgraphSchema`
 * (validation and completion of the SDL) and keeps what the binary needs to build the same
 * schema without it (src/kernel/subgraph/schema.ts). A module is embedded only when its
 * completed SDL and schema are valid (the binary does not validate them again) and the schema
 * rebuilt from its entry prints identically (with directives), introspects identically and
 * answers `_service { sdl }` identically to `buildSubgraphSchema`'s; otherwise (with a warning)
 * the binary builds that one at start as before.
 * @param definitions the modules (default: src/module-list.ts's, {@link moduleDefinitions}).
 * @returns entries by SHA-256 of the SDL (the kernel's `sdlHash`).
 */
export async function prebuiltSubgraphs(definitions?: readonly ModuleDefinition[]): Promise<Record<string, PrebuiltSubgraph>> {
  const [
    defs,
    { buildSubgraphSchema },
    { buildASTSchema, introspectionFromSchema, parse, validateSchema },
    { printSchemaWithDirectives },
    { fromPrebuilt },
    { sdlHash },
  ] = await Promise.all([
    definitions ?? moduleDefinitions(),
    import("@apollo/subgraph"),
    import("graphql"),
    import("@graphql-tools/utils"),
    import("../src/kernel/subgraph/schema.ts"),
    import("../src/kernel/kernel.ts"),
  ]);
  const out: Record<string, PrebuiltSubgraph> = {};
  for (const def of defs) {
    // A module whose SDL does not complete is left to buildSubgraphSchema at start (which reports it).
    const entry = await completeSubgraph(def.typeDefs).catch(
      (err: unknown) => void console.warn(`module ${def.name}: ${err instanceof Error ? err.message : String(err)}`),
    );
    if (!entry) continue;
    const expected = buildSubgraphSchema({ typeDefs: parse(def.typeDefs) });
    const actual = fromPrebuilt(entry, undefined);
    // fromPrebuilt does not validate (the binary trusts the entry): validate SDL and schema here.
    let valid: boolean;
    try {
      valid = validateSchema(buildASTSchema(parse(entry.schemaSdl))).length === 0;
    } catch {
      valid = false;
    }
    const same =
      valid &&
      printSchemaWithDirectives(actual) === printSchemaWithDirectives(expected) &&
      JSON.stringify(introspectionFromSchema(actual)) === JSON.stringify(introspectionFromSchema(expected)) &&
      (await serviceSdlOf(actual)) === (await serviceSdlOf(expected));
    if (same) out[sdlHash(def.typeDefs)] = entry;
    else console.warn(`module ${def.name}: the prebuilt subgraph schema differs from buildSubgraphSchema's; built at start instead`);
  }
  return out;
}

/**
 * Bun build plugin that replaces a module of the source (a placeholder exporting an empty
 * record) with `export const <exportName> = <value>`: how build-time results are embedded.
 * The value is written as `JSON.parse` of a string literal, which starts faster than the same
 * object literal (as for the etcd descriptor).
 * @param file the placeholder, relative to the repository root (e.g. `src/gateway/federation/precomposed.ts`).
 * @param value JSON-serialisable.
 */
export function embedJsonPlugin(file: string, exportName: string, value: unknown): BunPlugin {
  const path = resolve(ROOT, file);
  return {
    name: `switchyard-embed:${file}`,
    setup(build) {
      build.onLoad({ filter: new RegExp(`${path.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}$`) }, () => ({
        contents: `export const ${exportName} = JSON.parse(${JSON.stringify(JSON.stringify(value))});\n`,
        loader: "js",
      }));
    },
  };
}

/**
 * Every module's subgraph as the aggregator receives it at run time: the module's
 * `_service { sdl }` answer as `buildSubgraphSchema` serves it, by module name.
 * @param definitions the modules (default: src/module-list.ts's, {@link moduleDefinitions}).
 * @throws Error when a module's schema answers no `_service` SDL.
 */
export async function moduleSubgraphs(definitions?: readonly ModuleDefinition[]): Promise<SubgraphSdl[]> {
  const [defs, { buildSubgraphSchema }, { parse }] = await Promise.all([
    definitions ?? moduleDefinitions(),
    import("@apollo/subgraph"),
    import("graphql"),
  ]);
  const subgraphs: SubgraphSdl[] = [];
  for (const def of defs) {
    // The SDL does not depend on resolvers (printed from the typeDefs), so none are needed here.
    const sdl = await serviceSdlOf(buildSubgraphSchema({ typeDefs: parse(def.typeDefs) }));
    if (sdl === undefined) throw new Error(`module ${def.name}: no _service SDL`);
    subgraphs.push({ name: def.name, sdl });
  }
  return subgraphs;
}

/**
 * Composes the supergraph of every module in src/module-list.ts exactly as the aggregator does
 * at run time (each module's `_service { sdl }` as `buildSubgraphSchema` serves it, then
 * `composeSupergraph`), keyed by the composition cache's key. Embedded by
 * {@link embedJsonPlugin} into src/gateway/federation/precomposed.ts, it spares a binary the composition of its own modules even on a
 * first start (see src/gateway/federation/precomposed.ts).
 * @param definitions the modules (default: src/module-list.ts's, {@link moduleDefinitions}).
 * @returns `{ [key]: supergraphSdl }`; empty (with a warning) when the modules do not compose,
 *   so the binary composes at start and reports the errors as it always did.
 */
export async function precomposedSupergraphs(definitions?: readonly ModuleDefinition[]): Promise<Record<string, string>> {
  // Imported here: only builds need the modules and composition (tests import the plugins above).
  const [subgraphs, { composeSupergraph }, { COMPOSITION_ENGINE, compositionKey }] = await Promise.all([
    moduleSubgraphs(definitions),
    import("../src/gateway/federation/compose.ts"),
    import("../src/gateway/federation/composition-cache.ts"),
  ]);
  const composed = composeSupergraph(subgraphs);
  if (!composed.ok) {
    console.warn(`the modules do not compose; nothing precomposed:\n${composed.errors.map((e) => e.message).join("\n")}`);
    return {};
  }
  return { [compositionKey(COMPOSITION_ENGINE, subgraphs)]: composed.supergraphSdl };
}

/**
 * Compiles `entry` into a standalone executable at `outfile` (`--bytecode`, `--minify-syntax`,
 * inline source map; etcd3 protos, the query planner addon, the modules' completed subgraph
 * schemas and their composed supergraph embedded).
 * @throws Error with Bun's build messages when the build fails.
 */
export async function buildBinary(opts: BuildBinaryOptions): Promise<void> {
  const outfile = resolve(opts.outfile);
  mkdirSync(dirname(outfile), { recursive: true });
  // One pass over the modules for both build-time results.
  const defs = await moduleDefinitions();
  const result = await Bun.build({
    entrypoints: [resolve(ROOT, opts.entry)],
    compile: { outfile },
    // Precompiled JavaScriptCore bytecode in the executable: the binary starts without parsing
    // its ~6.5 MB bundle (half of the time `switchyard --help` took). ESM, because main.ts
    // awaits at top level (bytecode defaults to CommonJS).
    bytecode: true,
    format: "esm",
    minify: { syntax: true },
    sourcemap: "inline",
    plugins: [
      etcdProtoPlugin(),
      queryPlannerAddonPlugin(),
      embedJsonPlugin("src/gateway/federation/precomposed.ts", "PRECOMPOSED", await precomposedSupergraphs(defs)),
      embedJsonPlugin("src/kernel/subgraph/prebuilt-data.ts", "PREBUILT_SUBGRAPHS", await prebuiltSubgraphs(defs)),
    ],
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
