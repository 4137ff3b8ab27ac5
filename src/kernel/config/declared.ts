import { z } from "zod";
import { type FieldSchema, type OptionMeta, type OptionSet, optionRegistry } from "./option.ts";

/** One declared option, found in an option set's shape. */
export interface DeclaredOption {
  /** Owner of the set (`kernel`, `gateway`, a module name): the first set that declares it. */
  readonly owner: string;
  /** Every set that includes this declaration (a module may include one another module exports from its contract). */
  readonly owners: readonly string[];
  /** Key of the value: `[key]`, or `[group, key]` inside a group such as `nats`. */
  readonly path: readonly [string] | readonly [string, string];
  readonly schema: FieldSchema<unknown>;
  readonly meta: OptionMeta;
}

/**
 * The options of `sets` in declaration order (`--help` order). Throws a plain Error (a
 * programming mistake, not a user's) when a field carries no declaration, or when two sets
 * declare the same key, variable or flag: every value lives in one flat namespace. The same
 * declaration (the same schema object) in several sets is one option, parsed once.
 */
export function declaredOptions(sets: readonly OptionSet[]): DeclaredOption[] {
  const out: DeclaredOption[] = [];
  const bySchema = new Map<z.ZodType, { owners: string[] }>();
  const claimed = new Map<string, string>();
  const claim = (what: string, owner: string): void => {
    const first = claimed.get(what);
    if (first !== undefined) throw new Error(`option ${what} is declared by both ${first} and ${owner}`);
    claimed.set(what, owner);
  };
  const add = (owner: string, path: DeclaredOption["path"], schema: z.ZodType): void => {
    const meta = optionRegistry.get(schema);
    if (meta === undefined) throw new Error(`${owner} option ${path.join(".")} has no declaration (wrap its schema in option())`);
    claim(meta.env, owner);
    if (meta.flag !== undefined) claim(meta.flag, owner);
    const owners = [owner];
    bySchema.set(schema, { owners });
    out.push({ owner, owners, path, schema: schema as FieldSchema<unknown>, meta });
  };
  for (const set of sets) {
    for (const [key, field] of Object.entries(set.schema.shape as Record<string, z.ZodType>)) {
      const shared = bySchema.get(field);
      if (shared) {
        shared.owners.push(set.owner);
        continue;
      }
      claim(`key ${key}`, set.owner);
      if (field instanceof z.ZodObject && optionRegistry.get(field) === undefined) {
        for (const [inner, f] of Object.entries(field.shape as Record<string, z.ZodType>)) add(set.owner, [key, inner], f);
      } else add(set.owner, [key], field);
    }
  }
  return out;
}
