import { z } from "zod";

/** Thrown for an invalid option; `message` is the single line shown to the user. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** What an option's hooks may know besides its own raw value. */
export interface ParseContext {
  /** Known part names (modules + "gateway"). */
  readonly parts: readonly string[];
}

/**
 * The declaration of one option, attached to its zod field schema ({@link option}). The schema
 * turns the raw string (environment variable or flag) into the typed value; this says where the
 * string comes from and how `--help` and the README describe it.
 */
export interface OptionMeta<T = unknown> {
  /** Environment variable, e.g. `ORDER_MAX_LINES`. */
  env: string;
  /** CLI flag, e.g. `--order-max-lines`; none = environment only. */
  flag?: string;
  /** Default as the user would type it; undefined = unset (the value is undefined, the schema is not run). */
  default?: string;
  /** What is allowed, for `--help`, the README and the error line of a value the schema refuses without a message of its own. */
  allowed: string | ((ctx: ParseContext) => string);
  /** One or two sentences for `--help` and the README. */
  describe: string;
  /**
   * The value when the raw string is empty (after the default), computed from the options parsed
   * before it (e.g. GRAPHIQL from NODE_ENV). May throw {@link ConfigError} (a missing companion option).
   */
  whenEmpty?: (parsed: Readonly<Record<string, unknown>>) => T;
  /** Check against the process (e.g. known part names) after the schema; returns the final value or throws {@link ConfigError}. */
  refine?: (value: T, ctx: ParseContext) => T;
}

/** Every option declaration, keyed by its field schema (zod's registry: the metadata rides on the schema itself). */
export const optionRegistry = z.registry<OptionMeta>();

/** A field schema from the raw string to the typed value. */
export type FieldSchema<T> = z.ZodType<T, string>;

/**
 * Declares one option: its parser (a zod schema from the raw string) and its {@link OptionMeta}.
 * Returns the schema, to be placed in a {@link defineOptions} shape under the option's key.
 */
export function option<T>(schema: FieldSchema<T>, meta: OptionMeta<T>): FieldSchema<T> {
  // A schema object can carry one declaration; reusing one parser for two options would merge them.
  const own = schema.clone() as FieldSchema<T>;
  optionRegistry.add(own, meta as OptionMeta);
  return own;
}

/** A shape of options: option fields (see {@link option}) or nested groups of them (`nats: z.object({...})`). */
export type OptionShape = Record<string, z.ZodType<unknown, string> | z.ZodObject>;

/**
 * The options of one owner (the kernel, the gateway, a module): a zod object whose `z.infer` is
 * the owner's typed options, plus cross-option rules.
 */
export interface OptionSet<V extends object = object> {
  /** `kernel`, `gateway` or the module name: shown in `--help` and the README. */
  readonly owner: string;
  /** The options as a zod object (`z.infer<typeof set.schema>` is `V`). */
  readonly schema: z.ZodObject & { readonly _zod: { readonly output: V } };
  /** Rules across options of this set (both-or-neither, ...), run after parsing; throws {@link ConfigError}. */
  check?(values: V): void;
}

/** The typed values of an option set. */
export type OptionsOf<S extends OptionSet> = S extends OptionSet<infer V> ? V : never;

/**
 * Declares the options of `owner`. Keys must be unique across every set of the binary
 * (checked when the config is loaded): all sets share one flat namespace of values.
 */
export function defineOptions<const S extends OptionShape>(
  owner: string,
  shape: S,
  check?: (values: z.infer<z.ZodObject<S>>) => void,
): OptionSet<z.infer<z.ZodObject<S>>> {
  return { owner, schema: z.object(shape) as never, ...(check ? { check } : {}) };
}
