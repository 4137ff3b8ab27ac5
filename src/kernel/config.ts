/**
 * The kernel's configuration surface. Options are declared by their owners as zod schemas with
 * their variable, flag, default and description (`config/option.ts`): the kernel's in
 * `config/options.ts`, the gateway's in `src/gateway/options.ts`, each module's in
 * `src/modules/<m>/options.ts`. The loader (`config/load.ts`) parses all of them from the
 * environment and flags (flags win); `--help` and README's table come from the same
 * declarations (`config/help.ts`); a bad value produces one line naming the variable and what
 * is allowed ({@link ConfigError}).
 */
export { ConfigError, defineOptions, option, type OptionMeta, type OptionSet, type OptionsOf, type ParseContext } from "./config/option.ts";
export { kernelOptions, type KernelOptions, type BusConfig, type RegistryConfig, type NatsAuthConfig } from "./config/options.ts";
export {
  defaultsOf,
  loadConfig,
  optionsFrom,
  moduleDbEnv,
  type Config,
  type ConfigResult,
  type LoadContext,
  type ValuesOf,
} from "./config/load.ts";
export { helpText, configTable } from "./config/help.ts";
export { declaredOptions, type DeclaredOption } from "./config/declared.ts";
export {
  bool,
  checkParts,
  commaList,
  int,
  matching,
  must,
  oneOf,
  orUnset,
  parseBusTimeouts,
  parseDatabaseUrl,
  parsed,
  parseTtls,
} from "./config/parsers.ts";

/**
 * True only when the operator asked for development (`NODE_ENV=development`): every other value,
 * unset included, runs as production (masked errors, no GraphiQL/introspection/timings by default).
 */
export const isDevelopment = (config: { readonly nodeEnv: string }): boolean => config.nodeEnv === "development";
