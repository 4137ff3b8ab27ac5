/**
 * `npm run new-module -- <name> [--root <dir>]`: scaffolds a module in `src/modules/<name>/`
 * with the shape every module has, and adds its `register` to `src/module-list.ts`:
 *
 * - `contract/` (its public surface: SDL, bus subjects, event types): a `<Name>Item` entity
 *   (`@key(fields: "id")`), `<name>Items` / `<name>Item` queries, an `@authenticated`
 *   `create<Name>Item` mutation, the request/reply subject `<name>.item.get` and the event
 *   `<name>.item_created`;
 * - `storage/`: one store over Kysely for SQLite and PostgreSQL, one versioned migration list
 *   (a script per dialect where the DDL differs), and the transactional outbox (the event is
 *   written in the same transaction as the item);
 * - `module.ts` (the `ModuleDefinition`: opens the store on the database the kernel assigns,
 *   serves the subject, relays the outbox), `resolvers.ts`, `index.ts` (`register(kernel)`).
 *
 * The result builds, composes into the supergraph and runs in both modes as generated
 * (tests/scripts/new-module.test.ts starts it); replace the item with the module's own model.
 * `--root` (default: this repository) is the project whose `src/` receives the module.
 * Exit codes: 0 done, 2 invalid name or the module exists.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/** Names a module can take: lowercase, used as-is in subjects, table and SDL names. */
const NAME = /^[a-z][a-z0-9]{1,29}$/;
const RESERVED = new Set(["all", "gateway", "kernel", "modules", "graphql", "outbox"]);

/** The files of a module named `name` (`review` → `Review`, `ReviewItem`, `review.item.get`). */
export function moduleFiles(name: string): Record<string, string> {
  const Pascal = name[0]!.toUpperCase() + name.slice(1);
  const UPPER = name.toUpperCase();
  const Item = `${Pascal}Item`;
  const k = "../../../kernel/index.ts";
  return {
    "contract/schema.ts": `/** The ${name} subgraph's SDL (Apollo Federation v2). */
export const ${UPPER}_SDL = /* GraphQL */ \`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@authenticated"])

  "An item of the ${name} module (scaffold: replace with the module's own model)."
  type ${Item} @key(fields: "id") {
    id: ID!
    name: String!
    "Account that created it."
    createdBy: ID!
    "ISO-8601 UTC."
    createdAt: String!
  }

  type Query {
    "Newest first; at most 100."
    ${name}Items(first: Int = 20): [${Item}!]!
    ${name}Item(id: ID!): ${Item}
  }

  type Mutation {
    "Creates an item; BAD_USER_INPUT for an empty or longer than 200 characters name."
    create${Item}(name: String!): ${Item}! @authenticated
  }
\`;
`,
    "contract/subjects.ts": `import { z } from "zod";
import { defineCommand, subjectsOf } from "${k}";

const get${Item}Request = z.object({ id: z.string() });
export type Get${Item}Request = z.infer<typeof get${Item}Request>;

/** An item as other modules see it. */
const ${name}ItemReply = z.object({
  id: z.string(),
  name: z.string(),
  createdBy: z.string(),
  /** ISO-8601 UTC. */
  createdAt: z.string(),
});
export type ${Item}Reply = z.infer<typeof ${name}ItemReply>;

/** Commands the ${name} module serves (request/reply, queue group \`${name}\`); the kernel checks bodies against the schemas. */
export const ${Pascal}Commands = {
  /** Reads an item; error \`NOT_FOUND\`. */
  getItem: defineCommand("${name}.item.get", { request: get${Item}Request, reply: ${name}ItemReply }),
};

/** Subjects of {@link ${Pascal}Commands}, by the same names. */
export const ${Pascal}Subjects = subjectsOf(${Pascal}Commands);
`,
    "contract/events.ts": `import { z } from "zod";
import { defineEvent, subjectsOf } from "${k}";

const ${name}ItemCreatedEvent = z.object({
  /** Event id (KSUID) for consumer deduplication. */
  eventId: z.string(),
  id: z.string(),
  name: z.string(),
  createdBy: z.string(),
  /** ISO-8601 UTC, when the item was committed. */
  at: z.string(),
});
export type ${Item}CreatedEvent = z.infer<typeof ${name}ItemCreatedEvent>;

/** Events the ${name} module publishes (through its transactional outbox); consumers get them checked against the schemas. */
export const ${Pascal}EventTypes = {
  /** An item was created. */
  itemCreated: defineEvent("${name}.item_created", ${name}ItemCreatedEvent),
};

/** Subjects of {@link ${Pascal}EventTypes}, by the same names. */
export const ${Pascal}Events = subjectsOf(${Pascal}EventTypes);
`,
    "contract/index.ts": `import { defineContract } from "${k}";
import { ${Pascal}EventTypes } from "./events.ts";
import { ${Pascal}Commands } from "./subjects.ts";

/** The ${name} module's public contract: the only ${name} files other modules may import. */
export * from "./subjects.ts";
export * from "./events.ts";
export { ${UPPER}_SDL } from "./schema.ts";

/** The ${name} module's commands and events (what it serves and publishes is derived from them). */
export const ${Pascal}Contract = defineContract({ commands: ${Pascal}Commands, events: ${Pascal}EventTypes });
`,
    "storage/types.ts": `import type { OutboxSource } from "${k}";

/** A stored item. */
export interface ItemRecord {
  id: string;
  name: string;
  createdBy: string;
  /** ISO-8601 UTC. */
  createdAt: string;
}

/** The ${name} module's storage (SQLite or PostgreSQL). */
export interface ${Pascal}Store {
  /** The outbox the kernel relays (events written with the changes they announce). */
  readonly outbox: OutboxSource;
  /** Inserts an item and its \`${name}.item_created\` event in one transaction. */
  create(item: ItemRecord): Promise<ItemRecord>;
  byId(id: string): Promise<ItemRecord | null>;
  /** Newest first; \`first\` in 1..100. */
  list(first: number): Promise<ItemRecord[]>;
  close(): Promise<void>;
}
`,
    "storage/events.ts": `import { newId } from "${k}";
import type { ${Item}CreatedEvent } from "../contract/index.ts";
import type { ItemRecord } from "./types.ts";

/** The \`${name}.item_created\` payload of a new item. */
export const itemCreated = (item: ItemRecord): ${Item}CreatedEvent => ({ eventId: newId(), id: item.id, name: item.name, createdBy: item.createdBy, at: item.createdAt });
`,
    "storage/migrations.ts": `import { outboxMigration, type Migration } from "${k}";

/** Versioned schema of the ${name} database, a script per dialect where the DDL differs. Append only. */
export const ${UPPER}_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "items",
    up: {
      sqlite: \`
        CREATE TABLE items (
          seq INTEGER PRIMARY KEY,
          id TEXT NOT NULL UNIQUE,
          name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
          created_by TEXT NOT NULL,
          created_at TEXT NOT NULL
        );
      \`,
      postgres: \`
        CREATE TABLE items (
          seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          id text COLLATE "C" NOT NULL UNIQUE,
          name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
          created_by text COLLATE "C" NOT NULL,
          created_at timestamptz NOT NULL
        );
      \`,
    },
  },
  outboxMigration(2),
];
`,
    "storage/store.ts": `import type { Generated } from "kysely";
import { openMigratedDatabase, Outbox, type DatabaseConfig, type Logger, type ModuleDb } from "${k}";
import { ${Pascal}Events } from "../contract/index.ts";
import { itemCreated } from "./events.ts";
import { ${UPPER}_MIGRATIONS } from "./migrations.ts";
import type { ${Pascal}Store, ItemRecord } from "./types.ts";

/** The ${name} database's tables (timestamps as ISO-8601 strings on both databases). */
interface Tables {
  items: { seq: Generated<number>; id: string; name: string; created_by: string; created_at: string };
}

const COLUMNS = ["id", "name", "created_by as createdBy", "created_at as createdAt"] as const;

/**
 * Opens the ${name} database (SQLite file or PostgreSQL pool), migrates it and returns a store on it.
 * @throws MigrationError / the driver's error; the database is closed on failure.
 */
export async function open${Pascal}Database(config: DatabaseConfig, logger?: Logger): Promise<Sql${Pascal}Store> {
  return new Sql${Pascal}Store(await openMigratedDatabase<Tables>(config, ${UPPER}_MIGRATIONS, logger ? { logger } : {}));
}

/** {@link ${Pascal}Store} on either database. */
export class Sql${Pascal}Store implements ${Pascal}Store {
  readonly outbox: Outbox<Tables>;
  readonly #mdb: ModuleDb<Tables>;

  constructor(mdb: ModuleDb<Tables>) {
    this.#mdb = mdb;
    this.outbox = new Outbox(mdb);
  }

  async create(item: ItemRecord): Promise<ItemRecord> {
    await this.#mdb.db.transaction().execute(async (trx) => {
      await trx.insertInto("items").values({ id: item.id, name: item.name, created_by: item.createdBy, created_at: item.createdAt }).execute();
      await this.outbox.add(trx, ${Pascal}Events.itemCreated, itemCreated(item));
    });
    void this.outbox.committed([${Pascal}Events.itemCreated]);
    return item;
  }

  async byId(id: string): Promise<ItemRecord | null> {
    return (await this.#mdb.db.selectFrom("items").select(COLUMNS).where("id", "=", id).executeTakeFirst()) ?? null;
  }

  list(first: number): Promise<ItemRecord[]> {
    return this.#mdb.db.selectFrom("items").select(COLUMNS).orderBy("seq", "desc").limit(first).execute();
  }

  close(): Promise<void> {
    return this.#mdb.close();
  }
}
`,
    "resolvers.ts": `import { reference, typed } from "../../kernel/graphql/resolvers.ts";
import { badInput, newId, unauthenticated, type Resolvers } from "../../kernel/index.ts";
import type { ${Pascal}Options } from "./options.ts";
import type { ${Pascal}Store } from "./storage/types.ts";

/** The ${name} subgraph's resolvers; \`options\` are the module's (\`ctx.options\`). */
export function createResolvers(store: ${Pascal}Store, options: ${Pascal}Options): Resolvers {
  return {
    Query: {
      ${name}Items: typed<unknown, { first: number }>((_p, { first }) => {
        if (!Number.isInteger(first) || first < 1 || first > 100) throw badInput("first must be between 1 and 100", { first });
        return store.list(first);
      }),
      ${name}Item: typed<unknown, { id: string }>((_p, { id }) => store.byId(id)),
    },
    Mutation: {
      create${Item}: typed<unknown, { name: string }>(async (_p, { name }, ctx) => {
        // The gateway enforces @authenticated; a module never relies on it (defence in depth).
        if (!ctx.identity) throw unauthenticated();
        const trimmed = name.trim();
        const max = options.${name}NameMax;
        if (trimmed.length < 1 || trimmed.length > max) throw badInput(\`name must have 1 to \${max} characters\`, { field: "name" });
        return store.create({ id: newId(), name: trimmed, createdBy: ctx.identity.accountId, createdAt: new Date().toISOString() });
      }),
    },
    ${Item}: {
      __resolveReference: reference((ref) => store.byId(ref.id)),
    },
  };
}
`,
    "module.ts": `import { defineModule, notFound, type ModuleContext, type ModuleDefinition } from "../../kernel/index.ts";
import { ${UPPER}_SDL, ${Pascal}Commands, ${Pascal}Contract } from "./contract/index.ts";
import { ${name}Options, type ${Pascal}Options } from "./options.ts";
import { createResolvers } from "./resolvers.ts";
import { ${UPPER}_MIGRATIONS } from "./storage/migrations.ts";
import { open${Pascal}Database } from "./storage/store.ts";
import type { ${Pascal}Store } from "./storage/types.ts";

/**
 * Opens the store on the database the kernel assigned (PostgreSQL pool or SQLite file), migrated.
 * @throws MigrationError / the driver's error.
 */
export function open${Pascal}Store(ctx: ModuleContext): Promise<${Pascal}Store> {
  return open${Pascal}Database(ctx.database, ctx.logger);
}

/** The ${name} module: its subgraph, \`${name}.item.get\` (queue group \`${name}\`) and \`${name}.item_created\` through its outbox. */
export const ${name}Module: ModuleDefinition<${Pascal}Options> = defineModule({
  name: "${name}",
  options: ${name}Options,
  version: "0.1.0",
  dependsOn: [],
  typeDefs: ${UPPER}_SDL,
  // Subjects served and events published come from the contract; list consumed events here.
  contract: ${Pascal}Contract,
  consumes: [],
  // Its tables, for \`switchyard data copy\` (list in derived any table its triggers keep).
  storage: { migrations: ${UPPER}_MIGRATIONS },
  async start(ctx) {
    const store = await open${Pascal}Store(ctx);
    try {
      ctx.serve(${Pascal}Commands.getItem, async (req) => {
        const item = await store.byId(req.id);
        if (!item) throw notFound("${name} item", req.id);
        return item;
      });
      ctx.relayOutbox(store.outbox);
      return { resolvers: createResolvers(store, ctx.options), stop: () => store.close() };
    } catch (err) {
      await store.close();
      throw err;
    }
  },
});
`,
    "options.ts": `import { defineOptions, int, type OptionsOf, option } from "../../kernel/index.ts";

/**
 * The ${name} module's options: each declared once here (variable, flag, default, description);
 * \`--help\`, README's table (\`bun scripts/config-table.ts\`) and the tests' config follow, and the
 * module reads them typed as \`ctx.options\`.
 */
export const ${name}Options = defineOptions("${name}", {
  ${name}NameMax: option(int(1, 10_000), {
    env: "${UPPER}_NAME_MAX",
    flag: "--${name}-name-max",
    default: "200",
    allowed: "1-10000 (characters)",
    describe: "Longest ${name} item name; longer: BAD_USER_INPUT.",
  }),
});

/** The ${name} module's options, typed. */
export type ${Pascal}Options = OptionsOf<typeof ${name}Options>;
`,
    "index.ts": `import type { Kernel } from "../../kernel/index.ts";
import { ${name}Module } from "./module.ts";

export * from "./contract/index.ts";
export { ${name}Module };

/** Adds the ${name} module to a kernel (called by \`src/module-list.ts\`). */
export function register(kernel: Kernel): void {
  kernel.addModule(${name}Module);
}
`,
  };
}

/**
 * Adds `name`'s `register`, definition and option set to the module list source (imports and
 * entries in `MODULES`, `MODULE_OPTIONS` and `MODULE_DEFINITIONS`, after the last ones).
 * @throws Error when the file does not have the expected shape.
 */
export function addToModuleList(source: string, name: string): string {
  const Pascal = name[0]!.toUpperCase() + name.slice(1);
  const shape = new Error(
    "src/module-list.ts does not have the expected shape (imports of register and options, MODULES, MODULE_OPTIONS, MODULE_DEFINITIONS)",
  );
  const endOfLast = (re: RegExp, text: string): number => {
    const m = [...text.matchAll(re)].at(-1);
    if (m?.index === undefined) throw shape;
    return m.index + m[0].length;
  };
  const insert = (text: string, at: number, what: string): string => {
    if (at < 0) throw shape;
    return `${text.slice(0, at)}${what}${text.slice(at)}`;
  };
  let out = source;
  out = insert(
    out,
    endOfLast(/^import \{ \w+Module, register as register\w+ \} from "\.\/modules\/\w+\/index\.ts";$/gm, out),
    `\nimport { ${name}Module, register as register${Pascal} } from "./modules/${name}/index.ts";`,
  );
  out = insert(
    out,
    endOfLast(/^import \{ \w+Options \} from "\.\/modules\/\w+\/options\.ts";$/gm, out),
    `\nimport { ${name}Options } from "./modules/${name}/options.ts";`,
  );
  out = insert(out, out.indexOf("\n};", out.indexOf("export const MODULES")), `\n  ${name}: register${Pascal},`);
  out = insert(out, out.indexOf("\n} as const", out.indexOf("export const MODULE_OPTIONS")), `\n  ${name}: ${name}Options,`);
  const definitions = out.indexOf("export const MODULE_DEFINITIONS");
  return insert(out, definitions < 0 ? -1 : out.indexOf("\n} as const", definitions), `\n  ${name}: ${name}Module,`);
}

/**
 * Writes the module under `<root>/src/modules/<name>` and registers it.
 * @throws Error (message for the user) on an invalid or taken name.
 */
export function createModule(root: string, name: string): string[] {
  if (!NAME.test(name) || RESERVED.has(name))
    throw new Error(
      `invalid module name "${name}": 2-30 lowercase letters or digits, starting with a letter, not one of ${[...RESERVED].join(", ")}`,
    );
  const dir = join(root, "src", "modules", name);
  if (existsSync(dir)) throw new Error(`module "${name}" exists already (${dir})`);
  const listFile = join(root, "src", "module-list.ts");
  const list = addToModuleList(readFileSync(listFile, "utf8"), name);
  const written: string[] = [];
  for (const [rel, text] of Object.entries(moduleFiles(name))) {
    const file = join(dir, rel);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    written.push(file);
  }
  writeFileSync(listFile, list);
  written.push(listFile);
  return written;
}

if (import.meta.main) {
  let root = join(import.meta.dir, "..");
  let name: string | undefined;
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--root") root = args[++i] ?? root;
    else name ??= args[i];
  }
  root = resolve(root);
  if (!name) {
    process.stderr.write("usage: npm run new-module -- <name> [--root <dir>]\n");
    process.exit(2);
  }
  try {
    const files = createModule(root, name);
    process.stdout.write(
      `created module ${name}:\n${files.map((f) => `  ${f}`).join("\n")}\nIt runs with MODULES=all (or MODULES=${name} in split mode); replace the scaffold item with the module's own model.\n`,
    );
  } catch (err) {
    process.stderr.write(`new-module: ${(err as Error).message}\n`);
    process.exit(2);
  }
}
