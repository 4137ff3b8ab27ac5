import { type DeclaredOption, declaredOptions } from "./declared.ts";
import { ConfigError, type OptionSet, type OptionsOf, type ParseContext } from "./option.ts";
import { kernelOptions, type KernelOptions } from "./options.ts";
import { parseDatabaseUrl } from "./parsers.ts";

/**
 * The kernel's configuration: its options (`z.infer` of `kernelOptions`) plus the per-module
 * database overrides, whose variable names come from the module names (`<MODULE>_DATABASE_URL`).
 */
export type Config = KernelOptions & {
  /** `<MODULE>_DATABASE_URL` overrides, by module name. */
  moduleDatabaseUrls: Record<string, string>;
};

/** Where the loader finds option sets besides the kernel's: the gateway's and every module's. */
export interface LoadContext extends ParseContext {
  /** Option sets of the gateway and of every module the binary knows (run here or not: a bad value fails fast anyway). */
  readonly sets?: readonly OptionSet[];
}

type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;
/** The merged values of several option sets (all sets share one flat namespace of keys). */
export type ValuesOf<S extends readonly OptionSet[]> = [S[number]] extends [never] ? unknown : UnionToIntersection<OptionsOf<S[number]>>;

/** Result of parsing the command line: either a config or a request for help. */
export type ConfigResult<C = Config> = { help: true } | { help: false; config: C };

/** Name of the per-module database variable, e.g. `CATALOG_DATABASE_URL`. */
export const moduleDbEnv = (module: string): string => `${module.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_DATABASE_URL`;

/** Parses one option from `raw` into `out`; throws ConfigError naming `source`. */
function parseOne(opt: DeclaredOption, raw: string | undefined, source: string, ctx: ParseContext, out: Record<string, unknown>): void {
  let value: unknown;
  if (raw !== undefined) {
    try {
      if (raw === "" && opt.meta.whenEmpty) value = opt.meta.whenEmpty(out);
      else {
        const r = opt.schema.safeParse(raw);
        if (!r.success) {
          const allowed = typeof opt.meta.allowed === "string" ? opt.meta.allowed : opt.meta.allowed(ctx);
          throw new ConfigError(r.error.issues[0]?.message ?? allowed);
        }
        value = r.data;
      }
      if (opt.meta.refine) value = opt.meta.refine(value, ctx);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      throw new ConfigError(`${source}: invalid value "${raw}"; allowed: ${err.message}`);
    }
  }
  const [key, inner] = opt.path;
  if (inner === undefined) out[key] = value;
  else {
    // A group (nats) holds only the settings given, as `{ token: "..." }`.
    const group = (out[key] ??= {}) as Record<string, unknown>;
    if (value !== undefined) group[inner] = value;
  }
}

/** The raw value of an option: the flag wins; an unset or empty variable takes the default. */
function rawOf(
  opt: DeclaredOption,
  flags: ReadonlyMap<string, string>,
  env: Record<string, string | undefined>,
): [string | undefined, string] {
  const fromFlag = opt.meta.flag === undefined ? undefined : flags.get(opt.meta.flag);
  if (fromFlag !== undefined) return [fromFlag, opt.meta.flag as string];
  const fromEnv = env[opt.meta.env];
  const raw = fromEnv === undefined || (fromEnv === "" && opt.meta.default !== undefined) ? opt.meta.default : fromEnv;
  return [raw, opt.meta.env];
}

/** Runs each set's cross-option rules on the values parsed. */
function checkSets(sets: readonly OptionSet[], values: Record<string, unknown>): void {
  for (const set of sets) set.check?.(values as never);
}

/**
 * Builds the config from `argv` (flags like `--port 4000` or `--port=4000`) and `env`: the
 * kernel's options and those of `ctx.sets`, as one flat object (each owner reads its own keys).
 * Throws {@link ConfigError} with a one-line message, e.g. `PORT: invalid value "abc"; allowed: ...`.
 */
export function loadConfig<const S extends readonly OptionSet[] = []>(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  ctx: LoadContext & { readonly sets?: S },
): ConfigResult<Config & ValuesOf<S>> {
  const sets = [kernelOptions, ...(ctx.sets ?? [])];
  const options = declaredOptions(sets);
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--help" || arg === "-h") return { help: true };
    if (!arg.startsWith("--")) throw new ConfigError(`unexpected argument "${arg}" (see --help)`);
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg : arg.slice(0, eq);
    if (!options.some((o) => o.meta.flag === name)) throw new ConfigError(`unknown option ${name} (see --help)`);
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new ConfigError(`${name} needs a value (see --help)`);
    flags.set(name, value);
  }
  const out: Record<string, unknown> = {};
  for (const opt of options) parseOne(opt, ...rawOf(opt, flags, env), ctx, out);
  // <MODULE>_DATABASE_URL for every module this binary knows.
  const moduleDatabaseUrls: Record<string, string> = {};
  for (const part of ctx.parts) {
    if (part === "gateway") continue;
    const name = moduleDbEnv(part);
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    try {
      moduleDatabaseUrls[part] = parseDatabaseUrl(raw);
    } catch (err) {
      throw new ConfigError(`${name}: invalid value "${raw}"; allowed: ${(err as Error).message}`);
    }
  }
  out["moduleDatabaseUrls"] = moduleDatabaseUrls;
  checkSets(sets, out);
  return { help: false, config: out as Config & ValuesOf<S> };
}

/** The declared defaults of one option set, parsed (e.g. a module's limits when a caller passes none). */
export const defaultsOf = <S extends OptionSet>(set: S): OptionsOf<S> => optionsFrom(set, {}, { parts: [] });

/**
 * The values of one option set taken from `values` (a loaded config, which holds every declared
 * option, or a test's config); options missing there take their defaults, parsed as at load.
 * What the kernel hands a module as `ctx.options`.
 * @throws ConfigError when a default cannot be parsed in this context.
 */
export function optionsFrom<S extends OptionSet>(set: S, values: Readonly<Record<string, unknown>>, ctx: ParseContext): OptionsOf<S> {
  const out: Record<string, unknown> = {};
  for (const opt of declaredOptions([set])) {
    const [key] = opt.path;
    if (Object.hasOwn(values, key)) out[key] = values[key];
    else {
      // Parsed in a scratch copy: a default may depend on options before it (`whenEmpty`).
      const scratch: Record<string, unknown> = { ...values, ...out };
      parseOne(opt, opt.meta.default, opt.meta.env, ctx, scratch);
      out[key] = scratch[key];
    }
  }
  return out as OptionsOf<S>;
}
