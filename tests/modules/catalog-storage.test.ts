import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { newId } from "../../src/kernel/ids.ts";
import { migrate } from "../../src/kernel/storage/migrate.ts";
import { openDatabase } from "../../src/kernel/storage/database.ts";
import { catalogModule } from "../../src/modules/catalog/module.ts";
import { DEMO_CATALOG, LIMITED_MUG_NAME, seedDemoCatalog } from "../../src/modules/catalog/seed.ts";
import { CATALOG_MIGRATIONS } from "../../src/modules/catalog/storage/migrations.ts";
import { openCatalogDatabase, type SqlCatalogStore } from "../../src/modules/catalog/storage/store.ts";
import type { CatalogStore } from "../../src/modules/catalog/storage/types.ts";
import { DATABASES, freshPostgresDatabase, openProbe, usePostgres, WITH_POSTGRES, type DatabaseKind } from "../helpers/databases.ts";
import { startModules } from "../helpers/modules.ts";

/**
 * The catalog's storage: migrations, seeding, full-text synchronisation, cross-connection races.
 * SQLite-only checks (the file, FTS5's own integrity check) stay SQLite-only; PostgreSQL has
 * its equivalents (its migrations: catalog-search-parity.test.ts).
 */

usePostgres();

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), "catalog-storage-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const count = (db: Database, sql: string): number => db.query<{ n: number }, []>(sql).get()?.n ?? -1;

const STORE_MODULE = join(import.meta.dir, "../../src/modules/catalog/storage/store.ts");

/**
 * Runs `script` in `n` processes (args after the script: `args`), opened one after another:
 * each prints "ready" once set up, then waits for "go" on stdin; all get "go" together and
 * their last output line (JSON) is returned, in process order.
 */
async function runWorkers(script: string, args: readonly string[], n: number): Promise<unknown[]> {
  const procs = [];
  for (let i = 0; i < n; i++) {
    const p = Bun.spawn([process.execPath, "-e", script, ...args], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const reader = p.stdout.getReader();
    let text = "";
    while (!text.includes("ready\n")) {
      const chunk = await reader.read();
      if (chunk.done) throw new Error(`worker exited: ${await new Response(p.stderr).text()}`);
      text += new TextDecoder().decode(chunk.value);
    }
    procs.push({ p, reader });
  }
  for (const { p } of procs) {
    p.stdin.write("go\n");
    await p.stdin.end();
  }
  return Promise.all(
    procs.map(async ({ p, reader }) => {
      let out = "";
      for (let c = await reader.read(); !c.done; c = await reader.read()) out += new TextDecoder().decode(c.value);
      const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
      if (code !== 0) throw new Error(err);
      return JSON.parse(out.trim().split("\n").at(-1) ?? "") as unknown;
    }),
  );
}

/** A fresh, migrated, empty store of the given kind (SQLite in memory, or a new PostgreSQL database). */
async function freshStore(kind: DatabaseKind): Promise<CatalogStore> {
  return kind === "sqlite"
    ? openCatalogDatabase({ kind: "sqlite", path: ":memory:" })
    : openCatalogDatabase({ kind: "postgres", url: await freshPostgresDatabase(), poolMax: 5 });
}
const openPostgresStore = async (url: string, poolMax: number): Promise<SqlCatalogStore> =>
  openCatalogDatabase({ kind: "postgres", url, poolMax });
const productCount = async (store: CatalogStore): Promise<number> => store.countProducts({});

describe("migrations [sqlite]", () => {
  test("a fresh database gets every version; a second run applies none", async () => {
    const path = join(tempDir(), "catalog.sqlite");
    const mdb = openDatabase({ kind: "sqlite", path });
    expect(await migrate(mdb, CATALOG_MIGRATIONS)).toEqual(CATALOG_MIGRATIONS.map((m) => m.version));
    expect(await migrate(mdb, CATALOG_MIGRATIONS)).toEqual([]);
    await mdb.close();
    const db = new Database(path, { readonly: true });
    const rows = db
      .query<{ version: number; name: string; applied_at: string }, []>(
        "SELECT version, name, applied_at FROM schema_migrations ORDER BY version",
      )
      .all();
    expect(rows.map((r) => [r.version, r.name])).toEqual(CATALOG_MIGRATIONS.map((m) => [m.version, m.name]));
    for (const r of rows) expect(Number.isNaN(Date.parse(r.applied_at))).toBe(false);
    const tables = db
      .query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') ORDER BY name")
      .all()
      .map((r) => r.name);
    for (const t of [
      "categories",
      "products",
      "products_search",
      "products_search_insert",
      "products_search_update",
      "products_search_delete",
      "reservations",
      "reservation_items",
      "inbox",
    ]) {
      expect(tables).toContain(t);
    }
    // Replaced by the kernel inbox (migrations 7 and 8).
    expect(tables).not.toContain("processed_events");
    // Replaced by products_search, with prefix indexes (migration 9).
    expect(tables).not.toContain("products_fts");
    db.close();
  });

  test("constraints: stock can never be negative", async () => {
    const store = await openCatalogDatabase({ kind: "sqlite", path: ":memory:" });
    await sql`INSERT INTO categories (id, name) VALUES ('c', 'C')`.execute(store.db);
    await expect(
      sql`INSERT INTO products (id, category_id, name, description, price_cents, currency, stock, created_at) VALUES ('p', 'c', 'n', 'd', 1, 'USD', -1, 'x')`.execute(
        store.db,
      ),
    ).rejects.toThrow(/CHECK/);
    await store.close();
  });
});

describe("seed", () => {
  const total = DEMO_CATALOG.reduce((n, c) => n + c.products.length, 0);

  test("the demo catalog is big enough and well-formed", () => {
    expect(total).toBeGreaterThanOrEqual(50);
    expect(DEMO_CATALOG.length).toBeGreaterThanOrEqual(6);
    const all = DEMO_CATALOG.flatMap((c) => c.products);
    expect(new Set(all.map((p) => p.name)).size).toBe(all.length);
    expect(all.filter((p) => p.name === LIMITED_MUG_NAME).map((p) => p.stock)).toEqual([10]);
    for (const p of all) {
      expect(Number.isSafeInteger(p.priceCents) && p.priceCents > 0).toBe(true);
      expect(Number.isSafeInteger(p.stock) && p.stock >= 0).toBe(true);
      expect(p.description.length).toBeGreaterThan(40);
    }
  });
});

for (const kind of DATABASES) {
  describe(`module start [${kind}]`, () => {
    const total = DEMO_CATALOG.reduce((n, c) => n + c.products.length, 0);

    test("the module migrates its own database on start", async () => {
      const h = await startModules([catalogModule], {}, { database: kind });
      const probe = openProbe(h.database("catalog"));
      try {
        expect(
          (await probe.all<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version")).map((r) => r.version),
        ).toEqual(CATALOG_MIGRATIONS.map((m) => m.version));
        expect((await probe.get<{ n: number }>("SELECT count(*) AS n FROM products"))?.n).toBe(0); // seed is off by default in tests
        if (kind === "postgres") {
          // DATABASE_URL mode: the module's tables live in its own schema.
          expect((await probe.get<{ s: string }>("SELECT current_schema() AS s"))?.s).toBe("catalog");
          expect(
            (await probe.get<{ n: number }>("SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public'"))?.n,
          ).toBe(0);
        }
      } finally {
        await probe.close();
        await h.stop();
      }
    });

    test("seeds once on first start; a restart on the same database keeps the same catalog", async () => {
      const dataDir = tempDir();
      const q = "{ categories { id name } products(first: 100) { totalCount edges { node { id name stock createdAt } } } }";
      type R = {
        categories: { id: string }[];
        products: { totalCount: number; edges: { node: { id: string; name: string; stock: number } }[] };
      };

      const h1 = await startModules([catalogModule], { dataDir, seed: true }, { database: kind });
      const first = (await h1.query<R>("catalog", q)).data;
      await h1.stop();
      expect(first?.products.totalCount).toBe(total);
      expect(first?.categories.length).toBe(DEMO_CATALOG.length);
      expect(first?.products.edges.find((e) => e.node.name === LIMITED_MUG_NAME)?.node.stock).toBe(10);
      for (const e of first?.products.edges ?? []) expect(e.node.id).toMatch(/^[0-9A-Za-z]{27}$/);

      const h2 = await startModules(
        [catalogModule],
        { dataDir, seed: true },
        { database: kind, ...(h1.postgresUrl ? { postgresUrl: h1.postgresUrl } : {}) },
      );
      const second = (await h2.query<R>("catalog", q)).data;
      await h2.stop();
      expect(second).toEqual(first);
    });

    test("seedIfEmpty inserts in one transaction and only into an empty catalog", async () => {
      const store = await freshStore(kind);
      expect(await seedDemoCatalog(store)).toBe(total);
      expect(await seedDemoCatalog(store)).toBe(0);
      expect(await productCount(store)).toBe(total);
      expect((await store.listCategories()).length).toBe(DEMO_CATALOG.length);
      // A failing insert (duplicate category name) rolls the whole seed back.
      const fresh = await freshStore(kind);
      const p = { id: newId(), name: "x", description: "y", priceCents: 1, currency: "USD", stock: 1, createdAt: new Date().toISOString() };
      await expect(
        fresh.seedIfEmpty([
          { id: newId(), name: "Same", products: [p] },
          { id: newId(), name: "Same", products: [] },
        ]),
      ).rejects.toThrow();
      expect(await productCount(fresh)).toBe(0);
      expect(await fresh.listCategories()).toEqual([]);
      await store.close();
      await fresh.close();
    });

    test("two instances seeding an empty database at once seed it once", async () => {
      if (kind === "sqlite") {
        // Two processes (one read-write connection per file and process, as instances run):
        // each opens the file, says "ready", and on "go" seeds.
        const path = join(tempDir(), "catalog.sqlite");
        const script = `
          const { openCatalogDatabase } = await import(${JSON.stringify(STORE_MODULE)});
          const { seedDemoCatalog } = await import(${JSON.stringify(join(import.meta.dir, "../../src/modules/catalog/seed.ts"))});
          const store = await openCatalogDatabase({ kind: "sqlite", path: process.argv[1] });
          console.log("ready");
          for await (const _ of console) break;
          const n = await seedDemoCatalog(store);
          await store.close();
          console.log(JSON.stringify(n));
        `;
        const setup = await openCatalogDatabase({ kind: "sqlite", path });
        await setup.close();
        const counts = (await runWorkers(script, [path], 2)) as number[];
        expect(counts.sort((x, y) => x - y)).toEqual([0, total]);
        const a = await openCatalogDatabase({ kind: "sqlite", path });
        expect(await productCount(a)).toBe(total);
        await a.close();
        return;
      }
      const url = await freshPostgresDatabase();
      const [a, b] = await Promise.all([openPostgresStore(url, 2), openPostgresStore(url, 2)]);
      const counts = await Promise.all([seedDemoCatalog(a), seedDemoCatalog(b)]);
      expect(counts.sort((x, y) => x - y)).toEqual([0, total]);
      expect(await productCount(a)).toBe(total);
      await a.close();
      await b.close();
    });
  });
}

for (const kind of DATABASES) {
  describe(`inbox migration [${kind}]`, () => {
    test("processed_events rows move into the inbox (consumer catalog.order-status) and the table is dropped", async () => {
      const config =
        kind === "sqlite"
          ? ({ kind, path: join(tempDir(), "catalog.sqlite") } as const)
          : ({ kind, url: await freshPostgresDatabase(), poolMax: 2 } as const);
      const mdb = openDatabase(config);
      try {
        // A database of the previous release (versions 1-6), with two consumed events.
        const before = CATALOG_MIGRATIONS.filter((m) => m.version <= 6);
        expect(await migrate(mdb, before)).toEqual([1, 2, 3, 4, 5, 6]);
        const at = "2026-01-02T03:04:05.678Z";
        await sql`INSERT INTO processed_events (event_id, subject, processed_at) VALUES ('e1', 'order.status_changed', ${at}), ('e2', 'order.status_changed', ${at})`.execute(
          mdb.db,
        );
        expect(await migrate(mdb, CATALOG_MIGRATIONS)).toEqual([7, 8, 9, 10]);
        const { rows } = await sql<{
          consumer: string;
          event_id: string;
          processed_at: string;
        }>`SELECT consumer, event_id, processed_at FROM inbox ORDER BY event_id`.execute(mdb.db);
        expect(rows).toEqual([
          { consumer: "catalog.order-status", event_id: "e1", processed_at: at },
          { consumer: "catalog.order-status", event_id: "e2", processed_at: at },
        ]);
        await expect(sql`SELECT 1 FROM processed_events`.execute(mdb.db)).rejects.toThrow(/processed_events/);
      } finally {
        await mdb.close();
      }
      // And the store treats a carried-over id as processed.
      const store = await openCatalogDatabase(config);
      try {
        expect(await store.commit(newId(), "e1")).toBe("duplicate");
        expect(await store.commit(newId(), "e3")).toBe("unknown");
      } finally {
        await store.close();
      }
    });
  });
}

describe("full-text index [sqlite]", () => {
  test("triggers keep the external-content index in sync on insert, update and delete", async () => {
    const store = await openCatalogDatabase({ kind: "sqlite", path: ":memory:" });
    await seedDemoCatalog(store);
    const run = (statement: string) => sql.raw(statement).execute(store.db);
    const find = async (word: string) => (await store.listProducts({ terms: [word], first: 100 })).items.map((i) => i.product.name);
    expect(await find("moka")).toEqual(["Stovetop Espresso Maker"]);

    await run("UPDATE products SET name = 'Moka Pot Deluxe', description = 'Brews on any hob.' WHERE name = 'Stovetop Espresso Maker'");
    expect(await find("moka")).toEqual(["Moka Pot Deluxe"]);
    expect(await find("flip")).toEqual([]); // old description gone

    // Stock changes do not touch the index (the update trigger is limited to text columns).
    await run("UPDATE products SET stock = stock + 1 WHERE name = 'Moka Pot Deluxe'");
    expect(await find("deluxe")).toEqual(["Moka Pot Deluxe"]);

    await run("DELETE FROM products WHERE name = 'Moka Pot Deluxe'");
    expect(await find("moka")).toEqual([]);
    // FTS5's own consistency check compares the index with the content table.
    await run("INSERT INTO products_search (products_search) VALUES ('integrity-check')");
    await store.close();
  });
});

describe("cross-process races [sqlite]", () => {
  test("4 processes × 25 reservations on one database file sell exactly the 10 in stock", async () => {
    const dir = tempDir();
    const path = join(dir, "catalog.sqlite");
    const store = await openCatalogDatabase({ kind: "sqlite", path });
    const productId = newId();
    await store.seedIfEmpty([
      {
        id: newId(),
        name: "Race",
        products: [
          {
            id: productId,
            name: "Scarce",
            description: "Only ten.",
            priceCents: 100,
            currency: "USD",
            stock: 10,
            createdAt: new Date().toISOString(),
          },
        ],
      },
    ]);
    await store.close();

    // Each process opens its own connection (as separate instances would), says "ready", and
    // on "go" reserves 1 unit 25 times. Processes are opened one after another: what races is
    // the reservations, not the opening of the file.
    const script = `
      const { openCatalogDatabase } = await import(${JSON.stringify(STORE_MODULE)});
      const store = await openCatalogDatabase({ kind: "sqlite", path: process.argv[1] });
      console.log("ready");
      for await (const _ of console) break;
      let ok = 0, out = 0;
      for (let i = 0; i < 25; i++) {
        try { await store.reserve({ reservationId: crypto.randomUUID(), items: [{ productId: process.argv[2], quantity: 1 }] }); ok++; }
        catch (e) { if (e.code === "OUT_OF_STOCK") out++; else throw e; }
      }
      await store.close();
      console.log(JSON.stringify({ ok, out }));
    `;
    const results = (await runWorkers(script, [path, productId], 4)) as { ok: number; out: number }[];
    expect(results.reduce((n, r) => n + r.ok, 0)).toBe(10);
    expect(results.reduce((n, r) => n + r.out, 0)).toBe(90);
    const db = new Database(path, { readonly: true });
    expect(db.query<{ stock: number }, [string]>("SELECT stock FROM products WHERE id = ?").get(productId)?.stock).toBe(0);
    expect(count(db, "SELECT count(*) AS n FROM reservations")).toBe(10);
    db.close();
  }, 20_000);
});

describe.if(WITH_POSTGRES)("PostgreSQL storage [postgres]", () => {
  let store: SqlCatalogStore;
  beforeAll(async () => {
    store = await openPostgresStore(await freshPostgresDatabase(), 5);
    await seedDemoCatalog(store);
  });
  afterAll(async () => {
    await store.close();
  });
  const find = async (word: string) => (await store.listProducts({ terms: [word], first: 100 })).items.map((i) => i.product.name);

  test("constraints: stock can never be negative; prices are integer cents", async () => {
    const [c] = await store.listCategories();
    const insert = (stock: number, price: number | string) =>
      sql`INSERT INTO products (id, category_id, name, description, price_cents, currency, stock, created_at)
        VALUES (${newId()}, ${c?.id ?? ""}, 'n', 'd', ${price}, 'USD', ${stock}, now())`.execute(store.db);
    await expect(insert(-1, 1)).rejects.toThrow(/check constraint/);
    await expect(insert(1, "1.5")).rejects.toThrow(/invalid input syntax for type bigint/);
    await expect(sql`UPDATE products SET stock = stock - 1000000`.execute(store.db)).rejects.toThrow(/check constraint/);
  });

  test("the generated search column follows name and description changes, not stock changes", async () => {
    expect(await find("moka")).toEqual(["Stovetop Espresso Maker"]);
    await sql`UPDATE products SET name = 'Moka Pot Deluxe', description = 'Brews on any hob.' WHERE name = 'Stovetop Espresso Maker'`.execute(
      store.db,
    );
    expect(await find("moka")).toEqual(["Moka Pot Deluxe"]);
    expect(await find("flip")).toEqual([]); // old description gone
    await sql`UPDATE products SET stock = stock + 1 WHERE name = 'Moka Pot Deluxe'`.execute(store.db);
    expect(await find("deluxe")).toEqual(["Moka Pot Deluxe"]);
    await sql`DELETE FROM products WHERE name = 'Moka Pot Deluxe'`.execute(store.db);
    expect(await find("moka")).toEqual([]);
    // Every row's vector and token count are what the functions compute from its text now.
    const {
      rows: [stale],
    } = await sql<{ n: number }>`
      SELECT count(*) AS n FROM products
      WHERE search <> catalog_search_vector(name, description) OR search_tokens <> catalog_token_count(catalog_search_vector(name, description))`.execute(
      store.db,
    );
    expect(stale?.n).toBe(0);
  });

  test("4 pools × 25 reservations on one database sell exactly the 10 in stock", async () => {
    // Separate pools are separate sessions, as separate instances (processes) would have.
    const url = await freshPostgresDatabase();
    const productId = newId();
    const setup = await openPostgresStore(url, 1);
    await setup.seedIfEmpty([
      {
        id: newId(),
        name: "Race",
        products: [
          {
            id: productId,
            name: "Scarce",
            description: "Only ten.",
            priceCents: 100,
            currency: "USD",
            stock: 10,
            createdAt: new Date().toISOString(),
          },
        ],
      },
    ]);
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore(url, 3)));
    const results = await Promise.all(
      stores.map(async (s) => {
        let ok = 0;
        let out = 0;
        await Promise.all(
          Array.from({ length: 25 }, async () => {
            try {
              await s.reserve({ reservationId: newId(), items: [{ productId, quantity: 1 }] });
              ok++;
            } catch (err) {
              if ((err as { code?: unknown }).code === "OUT_OF_STOCK") out++;
              else throw err;
            }
          }),
        );
        return { ok, out };
      }),
    );
    expect(results.reduce((n, r) => n + r.ok, 0)).toBe(10);
    expect(results.reduce((n, r) => n + r.out, 0)).toBe(90);
    const {
      rows: [row],
    } = await sql<{ stock: number; reservations: number }>`
      SELECT stock, (SELECT count(*) FROM reservations) AS reservations FROM products WHERE id = ${productId}`.execute(setup.db);
    expect(row).toEqual({ stock: 0, reservations: 10 });
    await Promise.all([setup, ...stores].map((s) => s.close()));
  });

  test("multi-item reservations in opposite orders neither deadlock nor oversell", async () => {
    const [a, b] = (await store.listProducts({ first: 2 })).items.map((i) => i.product);
    if (!a || !b) throw new Error("seed missing");
    const before = { a: a.stock, b: b.stock };
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        store.reserve({
          reservationId: newId(),
          items:
            i % 2
              ? [
                  { productId: a.id, quantity: 1 },
                  { productId: b.id, quantity: 1 },
                ]
              : [
                  { productId: b.id, quantity: 1 },
                  { productId: a.id, quantity: 1 },
                ],
        }),
      ),
    );
    const ok = results.filter((r) => r.status === "fulfilled").length;
    for (const r of results) if (r.status === "rejected") expect((r.reason as { code?: unknown }).code).toBe("OUT_OF_STOCK");
    expect(ok).toBe(Math.min(30, before.a, before.b));
    const after = await store.productsByIds([a.id, b.id]);
    expect(after.find((p) => p.id === a.id)?.stock).toBe(before.a - ok);
    expect(after.find((p) => p.id === b.id)?.stock).toBe(before.b - ok);
  });

  test("concurrent duplicates of one reservation id: one reservation, stock taken once", async () => {
    const [p] = (await store.listProducts({ first: 1, terms: ["kettle"] })).items.map((i) => i.product);
    if (!p) throw new Error("seed missing");
    const id = newId();
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () => store.reserve({ reservationId: id, items: [{ productId: p.id, quantity: 2 }] })),
    );
    expect(outcomes.filter((o) => o.created)).toHaveLength(1);
    for (const o of outcomes)
      expect(o.reservation).toEqual({
        reservationId: id,
        items: [{ productId: p.id, quantity: 2, unitPriceCents: p.priceCents, currency: p.currency }],
      });
    expect((await store.productsByIds([p.id]))[0]?.stock).toBe(p.stock - 2);
    // And concurrent duplicate order.created deliveries commit once.
    const eventId = newId();
    const commits = await Promise.all(Array.from({ length: 5 }, () => store.commit(id, eventId)));
    expect(commits.sort()).toEqual(["committed", "duplicate", "duplicate", "duplicate", "duplicate"]);
  });
});
