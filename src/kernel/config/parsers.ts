import { z } from "zod";
import { ConfigError, type FieldSchema } from "./option.ts";

/**
 * Field schemas shared by the option files: each turns the raw string of an environment
 * variable or flag into a typed value, and refuses anything else with an issue whose message is
 * "what is allowed" (the loader prints `<VAR>: invalid value "<raw>"; allowed: <message>`).
 */

/** A schema from a parse function that throws {@link ConfigError} (its message = what is allowed). */
export function parsed<T>(parse: (raw: string) => T): FieldSchema<T> {
  return z.string().transform((raw, ctx) => {
    try {
      return parse(raw);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      ctx.issues.push({ code: "custom", message: err.message, input: raw });
      return z.NEVER;
    }
  });
}

/** Runs `schema` on `raw`; throws {@link ConfigError} with its first issue's message. */
export function must<T>(schema: FieldSchema<T>, raw: string): T {
  const r = schema.safeParse(raw);
  if (!r.success) throw new ConfigError(r.error.issues[0]?.message ?? "a valid value");
  return r.data;
}

/** An integer in `[min, max]` ("an integer from 0 to 65535"). */
export function int(min: number, max: number): FieldSchema<number> {
  const error = `an integer from ${min} to ${max}`;
  return z
    .string()
    .trim()
    .refine((s) => s !== "", { error })
    .pipe(z.coerce.number<string>({ error }).int({ error }).min(min, { error }).max(max, { error }));
}

/** `1|true|yes|on` or `0|false|no|off`, any case. */
export const bool = (): FieldSchema<boolean> =>
  z.stringbool({ truthy: ["1", "true", "yes", "on"], falsy: ["0", "false", "no", "off"], case: "insensitive", error: "true or false" });

/** One of `values` (message: `a | b | c`). */
export const oneOf = <const V extends readonly [string, ...string[]]>(values: V): FieldSchema<V[number]> =>
  z.enum(values, { error: values.join(" | ") }) as unknown as FieldSchema<V[number]>;

/** A string matching `pattern`; `error` says what is allowed. */
export const matching = (pattern: RegExp, error: string): FieldSchema<string> => z.string().regex(pattern, { error });

/** The empty string means unset (undefined); anything else must pass `schema`. */
export const orUnset = <T>(schema: FieldSchema<T>): FieldSchema<T | undefined> =>
  parsed((raw) => (raw === "" ? undefined : must(schema, raw)));

/** A host name or IP address (as HOST and OPS_HOST accept it). */
export const hostName = (): FieldSchema<string> => matching(/^[\w.:-]+$/, "an IP address or host name");

/** A comma list, trimmed, empty entries dropped. */
export const commaList = (raw: string): string[] =>
  raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/** Validates `sqlite:<path>` or `postgres://user@host[:port]/db` (also `postgresql://`). */
export function parseDatabaseUrl(raw: string): string {
  if (raw.startsWith("sqlite:") && raw.length > "sqlite:".length) return raw;
  if (/^postgres(ql)?:\/\/[^/\s]+\/[^\s]+$/.test(raw)) return raw;
  throw new ConfigError("sqlite:<path> | postgres://user:pass@host:port/database");
}

/** Parses `BUS_TIMEOUTS`: `pattern=ms` pairs; patterns use NATS wildcards (`*`, `>`). */
export function parseBusTimeouts(raw: string): { pattern: string; timeoutMs: number }[] {
  if (raw.trim() === "") return [];
  return raw.split(",").map((pair) => {
    const m = /^\s*([^\s=]+)\s*=\s*(\d+)\s*$/.exec(pair);
    const ms = m ? Number(m[2]) : NaN;
    if (!m || !Number.isInteger(ms) || ms < 1 || ms > 600_000 || !/^[^.\s]+(\.[^.\s]+)*$/.test(m[1] as string)) {
      throw new ConfigError("comma list of <subject pattern>=<ms> (1-600000), e.g. catalog.stock.*=2000,graphql.*=10000");
    }
    return { pattern: m[1] as string, timeoutMs: ms };
  });
}

/** Parses `RESPONSE_CACHE_TTLS`: `Type=ms` or `Type.field=ms` pairs. */
export function parseTtls(raw: string): Record<string, number> {
  const out: Record<string, number> = {};
  if (raw.trim() === "") return out;
  for (const pair of raw.split(",")) {
    const m = /^\s*([_A-Za-z]\w*(?:\.[_A-Za-z]\w*)?)\s*=\s*(\d+)\s*$/.exec(pair);
    const ms = m ? Number(m[2]) : NaN;
    if (!m || ms > 86_400_000) throw new ConfigError("comma list of <Type or Type.field>=<ms> (0-86400000), e.g. Product=60000,Order=0");
    out[m[1] as string] = ms;
  }
  return out;
}

/**
 * `all`, `all` minus exclusions (`all,-catalog,-payment`), or a comma list of known parts
 * (`ctx.parts`). `all` expands to every part; each `-<part>` removes one (only after `all`: an
 * exclusion from an explicit list means nothing). Order of the result: `ctx.parts` order for
 * `all`, the list's order otherwise; duplicates dropped.
 * @throws ConfigError naming the unknown part, an exclusion without `all`, or a list that
 *   excludes every part.
 */
export function checkParts(list: readonly string[], parts: readonly string[]): string[] {
  const allowed = `"all", "all,-name[,-name...]" or a comma list of ${parts.join(", ")}`;
  if (list.length === 0) throw new ConfigError(allowed);
  const unknown = list.map((n) => (n.startsWith("-") ? n.slice(1) : n)).find((n) => n !== "all" && !parts.includes(n));
  if (unknown !== undefined) throw new ConfigError(`${allowed}; unknown "${unknown}"`);
  const excluded = list.filter((n) => n.startsWith("-")).map((n) => n.slice(1));
  const included = list.filter((n) => !n.startsWith("-"));
  if (included.includes("all")) {
    if (included.length > 1) throw new ConfigError(`${allowed}; "all" already names every part`);
    const out = parts.filter((p) => !excluded.includes(p));
    if (out.length === 0) throw new ConfigError(`${allowed}; every part excluded`);
    return out;
  }
  if (excluded.length > 0) throw new ConfigError(`${allowed}; "-${excluded[0]}" excludes only from "all"`);
  return [...new Set(included)];
}
