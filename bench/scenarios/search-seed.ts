import { createHash } from "node:crypto";
import { constants, copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import postgres from "postgres";
import { postgresBinDir, type PostgresServer, startPostgres } from "../../scripts/devservers/postgres.ts";
import { ensureSchema, sharedDatabase } from "../../src/kernel/storage/resolve.ts";
import { CATALOG_MIGRATIONS } from "../../src/modules/catalog/storage/migrations.ts";
import { openCatalogDatabase } from "../../src/modules/catalog/storage/store.ts";
import type { NewCategory } from "../../src/modules/catalog/storage/types.ts";

/** Kept catalogs not used for this long are removed when another one is built, ms. */
const KEEP_UNUSED_MS = 7 * 24 * 3600 * 1000;
/** A build directory this old was left by an interrupted run, ms. */
const ABANDONED_BUILD_MS = 6 * 3600 * 1000;
/** The product's PostgreSQL database in a kept cluster (the modules' schemas live in it). */
const PG_DATABASE = "bench";

/** Which database a search catalog is in. */
export type SearchDatabase = "sqlite" | "postgres";

/**
 * Where generated search catalogs are kept between runs: `SEARCH_SEED_DIR`, default
 * `<OS temp dir>/switchyard-bench-search`; `SEARCH_SEED_DIR=off` keeps none (every run seeds).
 */
export function seedCacheDir(env: Record<string, string | undefined> = process.env): string | undefined {
  const v = env["SEARCH_SEED_DIR"];
  if (v === "off") return undefined;
  return v || join(tmpdir(), "switchyard-bench-search");
}

/** What generates a search catalog, and the version that names what it generates. */
export interface CatalogGenerator {
  /** `count` products in their categories (deterministic). */
  generate(count: number): NewCategory[];
  /** Changes whenever `generate` generates something else (invalidates kept catalogs). */
  version: number;
}

/**
 * Name of the kept catalog of `products` generated products in `db`: it changes with the
 * catalog's migrations (their SQL: a new or edited migration rebuilds it), the generator's
 * version and, for PostgreSQL, the server's major version (a data directory only opens in its
 * own).
 */
export function seedKey(db: SearchDatabase, products: number, generatorVersion: number): string {
  const h = createHash("sha256").update(JSON.stringify({ migrations: CATALOG_MIGRATIONS, generator: generatorVersion }));
  if (db === "postgres") h.update(basename(dirname(postgresBinDir())));
  return `${db}-${products}-${h.digest("hex").slice(0, 12)}`;
}

/**
 * Settings of the PostgreSQL that serves a search run: `shared_buffers` large enough for the
 * 1M-product catalog (heap ~0.8 GB, GIN and other indexes ~0.4 GB; `SEARCH_PG_SHARED_BUFFERS`,
 * default 2GB), as a server sized for its catalog would be. PostgreSQL's default (128 MB)
 * keeps only a sixth of it, and the searches then measure the disk.
 */
export function servingSettings(env: Record<string, string | undefined> = process.env): Record<string, string> {
  return { shared_buffers: env["SEARCH_PG_SHARED_BUFFERS"] || "2GB" };
}

/**
 * Loads the catalog schema's tables and indexes into shared buffers (`pg_prewarm`, a contrib
 * extension shipped with Debian's postgresql): a catalog in service has its hot pages in memory,
 * and a copied cluster starts cold, so without this the first searches of every term would
 * measure reads from disk rather than search. Returns the pages loaded.
 */
async function prewarm(url: string): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe("CREATE EXTENSION IF NOT EXISTS pg_prewarm");
    const [row] = await sql.unsafe<{ pages: string | null }[]>(
      `SELECT sum(pg_prewarm(c.oid::regclass)) AS pages FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'catalog' AND c.relkind IN ('r', 'i')`,
    );
    return Number(row?.pages ?? 0);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** A search catalog ready for the product: a SQLite `DATA_DIR` or a running PostgreSQL. */
export interface SeededCatalog {
  /** DATA_DIR for the product (holds `catalog.sqlite` for SQLite; the other modules' files). */
  dataDir: string;
  /** `DATABASE_URL` for the product (PostgreSQL), undefined for SQLite. */
  databaseUrl: string | undefined;
  /** Whether the catalog was generated in this run (false: copied from a kept one). */
  built: boolean;
  /** Time to generate or copy it, ms. */
  ms: number;
  /** Removes the run's copy (stops its PostgreSQL). */
  dispose(): Promise<void>;
}

/**
 * A catalog of `products` products from `opts.generator` in `db`, written by the
 * catalog store itself (its migrations, its bulk seed; search indexes and derived tables kept
 * by its own triggers) and then copied for this run from the one kept in {@link seedCacheDir}
 * (built there first when missing): the run may write to its copy, never to the kept one.
 * SQLite: `<dataDir>/catalog.sqlite`. PostgreSQL: a local cluster on a free loopback port
 * whose database `bench` has the catalog in schema `catalog` (the product's `DATABASE_URL`
 * layout), after `VACUUM ANALYZE` as a catalog in service would have been by autovacuum.
 * @param opts.cacheDir where catalogs are kept ({@link seedCacheDir}); undefined: none is kept,
 *   the run's catalog is seeded in place.
 * @throws Error when seeding, copying or starting PostgreSQL fails.
 */
export async function seededCatalog(
  db: SearchDatabase,
  products: number,
  opts: { generator: CatalogGenerator; cacheDir: string | undefined; log(line: string): void },
): Promise<SeededCatalog> {
  const t0 = performance.now();
  const dataDir = join(tmpdir(), `switchyard-bench-search-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(dataDir, { recursive: true });
  try {
    const label = `${products.toLocaleString("en")} products in ${db}`;
    if (opts.cacheDir === undefined) {
      // Nothing kept: seeded in place, no copy.
      opts.log(`  search: generating ${label}`);
      const categories = opts.generator.generate(products);
      if (db === "sqlite") {
        await seedSqlite(join(dataDir, "catalog.sqlite"), categories);
        return await ready(dataDir, undefined, true, t0);
      }
      return await ready(dataDir, await seedPostgres(categories), true, t0);
    }
    const kept = join(opts.cacheDir, seedKey(db, products, opts.generator.version));
    const built = !existsSync(kept);
    if (built) {
      opts.log(`  search: generating ${label}, kept in ${kept}`);
      mkdirSync(opts.cacheDir, { recursive: true });
      pruneUnused(opts.cacheDir);
      // Built under a temporary name and renamed: an interrupted build leaves no half catalog.
      const building = `${kept}.building-${process.pid}`;
      rmSync(building, { recursive: true, force: true });
      mkdirSync(building);
      try {
        const categories = opts.generator.generate(products);
        if (db === "sqlite") await seedSqlite(join(building, "catalog.sqlite"), categories);
        else {
          const pg = await seedPostgres(categories);
          await pg.stop({ keepDataIn: join(building, "data") });
        }
      } catch (err) {
        rmSync(building, { recursive: true, force: true });
        throw err;
      }
      try {
        renameSync(building, kept);
      } catch (err) {
        // Another run kept the same catalog meanwhile: use that one.
        rmSync(building, { recursive: true, force: true });
        if (!existsSync(kept)) throw err;
      }
    }
    utimesSync(kept, new Date(), new Date());
    if (db === "sqlite") {
      copyFileSync(join(kept, "catalog.sqlite"), join(dataDir, "catalog.sqlite"), constants.COPYFILE_FICLONE);
      return await ready(dataDir, undefined, built, t0);
    }
    return await ready(dataDir, await startPostgres({ from: join(kept, "data"), settings: servingSettings() }), built, t0);
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** The {@link SeededCatalog} of `dataDir` and the run's PostgreSQL, if any (its catalog prewarmed). */
async function ready(dataDir: string, pg: PostgresServer | undefined, built: boolean, t0: number): Promise<SeededCatalog> {
  if (pg)
    await prewarm(pg.urlFor(PG_DATABASE)).catch(async (err: unknown) => {
      await pg.stop();
      throw err;
    });
  return {
    dataDir,
    databaseUrl: pg?.urlFor(PG_DATABASE),
    built,
    ms: performance.now() - t0,
    async dispose() {
      await pg?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** `path`: migrated and seeded by the catalog store, its WAL checkpointed into the file. */
async function seedSqlite(path: string, categories: NewCategory[]): Promise<void> {
  const store = await openCatalogDatabase({ kind: "sqlite", path });
  try {
    await store.seedIfEmpty(categories);
  } finally {
    await store.close();
  }
  // Closing the last connection checkpoints the WAL into the file; a WAL left behind would hold
  // data that a copy of the file alone lacks.
  const wal = `${path}-wal`;
  if (existsSync(wal) && statSync(wal).size > 0) throw new Error(`${wal} left after close: the catalog is not all in ${path}`);
}

/**
 * A new local cluster whose database `bench` has the seeded catalog in schema `catalog`.
 * @throws Error (cluster stopped) when seeding fails.
 */
async function seedPostgres(categories: NewCategory[]): Promise<PostgresServer> {
  const pg = await startPostgres({ settings: servingSettings() });
  try {
    const url = await pg.createDatabase(PG_DATABASE);
    const catalog = sharedDatabase(url, "catalog", 1);
    await ensureSchema(catalog);
    const store = await openCatalogDatabase(catalog);
    try {
      await store.seedIfEmpty(categories);
    } finally {
      await store.close();
    }
    // Statistics and a flushed GIN pending list, as autovacuum leaves a catalog in service;
    // the checkpoint makes a shutdown that keeps the directory quick.
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await sql.unsafe("VACUUM ANALYZE");
      await sql.unsafe("CHECKPOINT");
    } finally {
      await sql.end({ timeout: 5 });
    }
    return pg;
  } catch (err) {
    await pg.stop();
    throw err;
  }
}

/** Removes kept catalogs unused for {@link KEEP_UNUSED_MS} and builds left by interrupted runs. */
function pruneUnused(cacheDir: string): void {
  for (const name of readdirSync(cacheDir)) {
    const path = join(cacheDir, name);
    const age = Date.now() - statSync(path).mtimeMs;
    const stale = name.includes(".building-") ? age > ABANDONED_BUILD_MS : age > KEEP_UNUSED_MS;
    if (stale) rmSync(path, { recursive: true, force: true });
  }
}
