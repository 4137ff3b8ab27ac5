import type { ModuleDefinition, ModuleStorage } from "../kernel/module.ts";
import {
  CopyError,
  createReporter,
  describeDatabase,
  formatVerification,
  moduleDatabase,
  type PreparedCopy,
  prepareModuleCopy,
  type ProgressMode,
  TargetNotEmptyError,
  type TableVerification,
  type TextOut,
  verifyModule,
} from "../kernel/storage/copy/index.ts";

/** Exit codes of `switchyard data` (stable: scripts test them). */
export const DataExit = {
  ok: 0,
  error: 1,
  usage: 2,
  different: 3,
  targetNotEmpty: 4,
} as const;

/** Rows per batch by default: one target transaction and one progress row each. */
export const DEFAULT_BATCH_ROWS = 1000;

/** `switchyard data --help`. */
export const DATA_HELP = `Usage:
  switchyard data copy   --from <src> --to <dst> [--modules a,b] [--replace] [--batch-rows N] [--progress auto|bar|lines|none]
  switchyard data verify --from <src> --to <dst> [--modules a,b]
  (from source: bun src/main.ts data ...; npm run data -- copy ...)

Moves module data between SQLite and PostgreSQL, in either direction, one module database at a time.

<src>, <dst>   a directory or sqlite:<dir>   each module in <dir>/<module>.sqlite (the monolith's DATA_DIR)
               postgres://user:pass@host/db  each module in the schema named after it (as DATABASE_URL)

copy     Checks every module first: the source must exist and carry exactly this version's
         migrations (run \`switchyard --migrate\` on it otherwise; the source is never written),
         the target is migrated and must hold none of the module's data. Then copies every
         table of each module in primary-key order, in batches, each batch committed in the
         target together with the copy's progress (table switchyard_copy): a killed copy rerun
         with the same arguments resumes after the last committed batch, never duplicating.
         Each module is read in one snapshot (SQLite read transaction, PostgreSQL REPEATABLE
         READ): writes made to the source meanwhile are not copied, and the verification that
         follows reports them as differences. Ends with a verification (as \`verify\`).
verify   Compares every table: row counts and a checksum computed the same way on both sides.

Options:
  --modules a,b       modules to move (default: all)
  --replace           empty the modules' tables in the target first, then copy
  --batch-rows N      rows per batch (default ${DEFAULT_BATCH_ROWS})
  --progress MODE     auto (bar on a terminal, else lines), bar, lines or none; on stderr
  -h, --help          this text

The verification table goes to stdout. Exit codes: 0 copied (or compared) and equal; 1 error;
2 usage; 3 verification found a difference; 4 target not empty and --replace not given.
`;

/** What `switchyard data` needs from the process (tests pass their own). */
export interface DataIo {
  readonly stdout: TextOut;
  readonly stderr: TextOut;
  /** Whether stderr is a terminal (`--progress auto` draws a bar then). */
  readonly stderrIsTTY: boolean;
}

/** Parsed command line of `switchyard data`. */
interface DataArgs {
  command: "copy" | "verify";
  from: string;
  to: string;
  modules: string[] | null;
  replace: boolean;
  batchRows: number;
  progress: ProgressMode | "auto";
}

class UsageError extends Error {}

const PROGRESS_MODES = ["auto", "bar", "lines", "none"] as const;

function parseArgs(argv: readonly string[]): DataArgs | "help" {
  if (argv.length === 0 || argv.includes("--help") || argv.includes("-h") || argv[0] === "help") return "help";
  const [command, ...rest] = argv;
  if (command !== "copy" && command !== "verify") throw new UsageError(`unknown command ${command} (copy, verify)`);
  const args: DataArgs = { command, from: "", to: "", modules: null, replace: false, batchRows: DEFAULT_BATCH_ROWS, progress: "auto" };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    const eq = arg.indexOf("=");
    const flag = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      const v = arg.startsWith("--") && eq > 0 ? arg.slice(eq + 1) : rest[++i];
      if (v === undefined || v === "") throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (flag === "--from") args.from = value();
    else if (flag === "--to") args.to = value();
    else if (flag === "--modules")
      args.modules = value()
        .split(",")
        .map((m) => m.trim())
        .filter(Boolean);
    else if (flag === "--replace" && command === "copy") args.replace = true;
    else if (flag === "--batch-rows" && command === "copy") {
      const v = value();
      const n = Number(v);
      if (!/^\d+$/.test(v) || n < 1 || n > 100_000) throw new UsageError(`--batch-rows: ${v} is not an integer from 1 to 100000`);
      args.batchRows = n;
    } else if (flag === "--progress" && command === "copy") {
      const v = value();
      if (!(PROGRESS_MODES as readonly string[]).includes(v))
        throw new UsageError(`--progress: ${v} is not one of ${PROGRESS_MODES.join(", ")}`);
      args.progress = v as DataArgs["progress"];
    } else throw new UsageError(`unknown option ${arg} for data ${command}`);
  }
  if (!args.from) throw new UsageError("--from is required");
  if (!args.to) throw new UsageError("--to is required");
  return args;
}

/** A module with its storage, to move. */
interface Movable {
  readonly name: string;
  readonly storage: ModuleStorage;
}

function selectModules(
  args: DataArgs,
  definitions: Readonly<Record<string, Pick<ModuleDefinition, "name" | "storage">>>,
  io: DataIo,
): Movable[] {
  const names = args.modules ?? Object.keys(definitions);
  if (names.length === 0) throw new UsageError("--modules: no module named");
  const out: Movable[] = [];
  for (const name of names) {
    const def = definitions[name];
    if (!def) throw new UsageError(`unknown module ${name} (${Object.keys(definitions).join(", ")})`);
    if (!def.storage) {
      io.stderr.write(`${name}: no storage declared; nothing to move\n`);
      continue;
    }
    out.push({ name, storage: def.storage });
  }
  for (const m of out) {
    if (describeDatabase(moduleDatabase(args.from, m.name)) === describeDatabase(moduleDatabase(args.to, m.name)))
      throw new UsageError("--from and --to name the same databases");
  }
  return out;
}

/**
 * `switchyard data copy|verify ...` (see {@link DATA_HELP}): returns the exit code.
 * @param argv the arguments after `data`.
 * @param definitions every module of the binary, by name (`MODULE_DEFINITIONS`).
 */
export async function runData(
  argv: readonly string[],
  definitions: Readonly<Record<string, Pick<ModuleDefinition, "name" | "storage">>>,
  io: DataIo,
): Promise<number> {
  let args: DataArgs | "help";
  let modules: Movable[];
  try {
    args = parseArgs(argv);
    if (args === "help") {
      io.stdout.write(DATA_HELP);
      return DataExit.ok;
    }
    modules = selectModules(args, definitions, io);
  } catch (err) {
    if (!(err instanceof UsageError || err instanceof CopyError)) throw err;
    io.stderr.write(`switchyard data: ${err.message}\n(switchyard data --help for usage)\n`);
    return DataExit.usage;
  }
  try {
    if (args.command === "copy") {
      const code = await copy(args, modules, io);
      if (code !== DataExit.ok) return code;
    }
    return await verify(args, modules, io);
  } catch (err) {
    io.stderr.write(`switchyard data: ${describeError(err)}\n`);
    return DataExit.error;
  }
}

/** The message of a failure (a refused copy, a database error such as a refused connection), with the driver's code when it has one. */
function describeError(err: unknown): string {
  if (err instanceof CopyError || !(err instanceof Error)) return err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
}

async function copy(args: DataArgs, modules: readonly Movable[], io: DataIo): Promise<number> {
  const mode: ProgressMode = args.progress === "auto" ? (io.stderrIsTTY ? "bar" : "lines") : args.progress;
  const reporter = createReporter(mode, io.stderr);
  const opts = { replace: args.replace, batchRows: args.batchRows, reporter };
  // Every module's checks first, so a refused target leaves no module half done by this run.
  const prepared: PreparedCopy[] = [];
  const refused: Error[] = [];
  for (const m of modules) {
    try {
      prepared.push(
        await prepareModuleCopy(
          { module: m.name, storage: m.storage, source: moduleDatabase(args.from, m.name), target: moduleDatabase(args.to, m.name) },
          opts,
        ),
      );
    } catch (err) {
      if (!(err instanceof Error)) throw err;
      refused.push(err);
    }
  }
  try {
    if (refused.length > 0) {
      for (const err of refused) io.stderr.write(`switchyard data: ${describeError(err)}\n`);
      io.stderr.write("nothing copied\n");
      return refused.every((e) => e instanceof TargetNotEmptyError) ? DataExit.targetNotEmpty : DataExit.error;
    }
    const done = prepared.filter((p) => p.start === "done");
    for (const p of done)
      io.stderr.write(
        `switchyard data: ${p.module}: already copied from ${describeDatabase(moduleDatabase(args.from, p.module))}; --replace copies it again\n`,
      );
    // Only finished modules: the command was run once too often. Some left: a rerun after a failure goes on with those.
    // A finished module's run only sets its identity sequences again (a kill may have come between).
    for (const p of done) await p.run();
    if (done.length === prepared.length && done.length > 0) return DataExit.targetNotEmpty;
    for (const p of prepared) {
      if (p.start === "done") continue;
      if (p.start === "resume") io.stderr.write(`${p.module}: resuming an interrupted copy\n`);
      if (p.start === "replace") io.stderr.write(`${p.module}: target emptied (--replace)\n`);
      await p.run();
    }
  } finally {
    for (const p of prepared) await p.close();
  }
  return DataExit.ok;
}

async function verify(args: DataArgs, modules: readonly Movable[], io: DataIo): Promise<number> {
  const rows: TableVerification[] = [];
  for (const m of modules) {
    rows.push(
      ...(await verifyModule(m.name, m.storage, moduleDatabase(args.from, m.name), moduleDatabase(args.to, m.name), DEFAULT_BATCH_ROWS)),
    );
  }
  io.stdout.write(formatVerification(rows));
  const bad = rows.filter((r) => !r.match);
  if (bad.length === 0) return DataExit.ok;
  io.stderr.write(
    `switchyard data: verification found differences in ${bad.map((r) => `${r.module}.${r.table}`).join(", ")}` +
      " (rows written to the source after its snapshot are not copied: stop writes and copy again with --replace)\n",
  );
  return DataExit.different;
}
