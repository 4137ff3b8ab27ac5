import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newId } from "../../src/kernel/ids.ts";
import { migrateSqlite } from "../../src/kernel/storage/migrations.ts";
import { openSqlite } from "../../src/kernel/storage/sqlite.ts";
import { catalogModule } from "../../src/modules/catalog/module.ts";
import { DEMO_CATALOG, LIMITED_MUG_NAME, seedDemoCatalog } from "../../src/modules/catalog/seed.ts";
import { CATALOG_MIGRATIONS } from "../../src/modules/catalog/storage/migrations.ts";
import { openSqliteCatalogStore } from "../../src/modules/catalog/storage/sqlite.ts";
import { startModules } from "../helpers/modules.ts";

/** The catalog's SQLite storage: migrations, seeding, FTS synchronisation, cross-connection races. */

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

describe("migrations", () => {
  test("a fresh database gets every version; a second run applies none", () => {
    const db = openSqlite(join(tempDir(), "catalog.sqlite"));
    expect(migrateSqlite(db, CATALOG_MIGRATIONS)).toEqual([1, 2, 3, 4]);
    expect(migrateSqlite(db, CATALOG_MIGRATIONS)).toEqual([]);
    const rows = db.query<{ version: number; name: string; applied_at: string }, []>("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").all();
    expect(rows.map((r) => [r.version, r.name])).toEqual(CATALOG_MIGRATIONS.map((m) => [m.version, m.name]));
    for (const r of rows) expect(Number.isNaN(Date.parse(r.applied_at))).toBe(false);
    const tables = db.query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') ORDER BY name").all().map((r) => r.name);
    for (const t of ["categories", "products", "products_fts", "products_fts_insert", "products_fts_update", "products_fts_delete", "reservations", "reservation_items", "processed_events"]) {
      expect(tables).toContain(t);
    }
    db.close();
  });

  test("the module migrates its own database on start", async () => {
    const h = await startModules([catalogModule]);
    const db = new Database(join(h.dataDir, "catalog.sqlite"), { readonly: true });
    expect(db.query<{ version: number }, []>("SELECT version FROM schema_migrations ORDER BY version").all().map((r) => r.version)).toEqual([1, 2, 3, 4]);
    expect(count(db, "SELECT count(*) AS n FROM products")).toBe(0); // seed is off by default in tests
    db.close();
    await h.stop();
  });

  test("constraints: stock can never be negative", () => {
    const store = openSqliteCatalogStore(":memory:");
    store.db.query("INSERT INTO categories (id, name) VALUES ('c', 'C')").run();
    expect(() => store.db.query("INSERT INTO products (id, category_id, name, description, price_cents, currency, stock, created_at) VALUES ('p', 'c', 'n', 'd', 1, 'USD', -1, 'x')").run()).toThrow(/CHECK/);
    void store.close();
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

  test("seeds once on first start; a restart with the same data dir keeps the same catalog", async () => {
    const dataDir = tempDir();
    const q = "{ categories { id name } products(first: 100) { totalCount edges { node { id name stock } } } }";
    type R = { categories: { id: string }[]; products: { totalCount: number; edges: { node: { id: string; name: string; stock: number } }[] } };

    const h1 = await startModules([catalogModule], { dataDir, seed: true });
    const first = (await h1.query<R>("catalog", q)).data;
    await h1.stop();
    expect(first?.products.totalCount).toBe(total);
    expect(first?.categories.length).toBe(DEMO_CATALOG.length);
    expect(first?.products.edges.find((e) => e.node.name === LIMITED_MUG_NAME)?.node.stock).toBe(10);
    for (const e of first?.products.edges ?? []) expect(e.node.id).toMatch(/^[0-9A-Za-z]{27}$/);

    const h2 = await startModules([catalogModule], { dataDir, seed: true });
    const second = (await h2.query<R>("catalog", q)).data;
    await h2.stop();
    expect(second).toEqual(first);
  });

  test("seedIfEmpty inserts in one transaction and only into an empty catalog", async () => {
    const store = openSqliteCatalogStore(":memory:");
    expect(await seedDemoCatalog(store)).toBe(total);
    expect(await seedDemoCatalog(store)).toBe(0);
    expect(count(store.db, "SELECT count(*) AS n FROM products")).toBe(total);
    expect(count(store.db, "SELECT count(*) AS n FROM categories")).toBe(DEMO_CATALOG.length);
    // A failing insert (duplicate category name) rolls the whole seed back.
    const fresh = openSqliteCatalogStore(":memory:");
    const p = { id: newId(), name: "x", description: "y", priceCents: 1, currency: "USD", stock: 1, createdAt: new Date().toISOString() };
    await expect(fresh.seedIfEmpty([{ id: newId(), name: "Same", products: [p] }, { id: newId(), name: "Same", products: [] }])).rejects.toThrow();
    expect(count(fresh.db, "SELECT count(*) AS n FROM products")).toBe(0);
    await store.close();
    await fresh.close();
  });
});

describe("full-text index", () => {
  test("triggers keep the external-content index in sync on insert, update and delete", async () => {
    const store = openSqliteCatalogStore(":memory:");
    await seedDemoCatalog(store);
    const db = store.db;
    const find = async (word: string) => (await store.listProducts({ terms: [word], first: 100 })).items.map((i) => i.product.name);
    expect(await find("moka")).toEqual(["Stovetop Espresso Maker"]);

    db.query("UPDATE products SET name = 'Moka Pot Deluxe', description = 'Brews on any hob.' WHERE name = 'Stovetop Espresso Maker'").run();
    expect(await find("moka")).toEqual(["Moka Pot Deluxe"]);
    expect(await find("flip")).toEqual([]); // old description gone

    // Stock changes do not touch the index (the update trigger is limited to text columns).
    db.query("UPDATE products SET stock = stock + 1 WHERE name = 'Moka Pot Deluxe'").run();
    expect(await find("deluxe")).toEqual(["Moka Pot Deluxe"]);

    db.query("DELETE FROM products WHERE name = 'Moka Pot Deluxe'").run();
    expect(await find("moka")).toEqual([]);
    // FTS5's own consistency check compares the index with the content table.
    expect(() => db.query("INSERT INTO products_fts (products_fts) VALUES ('integrity-check')").run()).not.toThrow();
    await store.close();
  });
});

describe("cross-process races", () => {
  test("4 processes × 25 reservations on one database file sell exactly the 10 in stock", async () => {
    const dir = tempDir();
    const path = join(dir, "catalog.sqlite");
    const store = openSqliteCatalogStore(path);
    const productId = newId();
    await store.seedIfEmpty([
      { id: newId(), name: "Race", products: [{ id: productId, name: "Scarce", description: "Only ten.", priceCents: 100, currency: "USD", stock: 10, createdAt: new Date().toISOString() }] },
    ]);
    await store.close();

    // Each process opens its own connection (as separate instances would), says "ready", and
    // on "go" reserves 1 unit 25 times. Processes are opened one after another: what races is
    // the reservations, not the opening of the file.
    const script = `
      const { openSqliteCatalogStore } = await import(${JSON.stringify(join(import.meta.dir, "../../src/modules/catalog/storage/sqlite.ts"))});
      const store = openSqliteCatalogStore(process.argv[1]);
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
    const procs = [];
    for (let i = 0; i < 4; i++) {
      const p = Bun.spawn([process.execPath, "-e", script, path, productId], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
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
    const results = await Promise.all(
      procs.map(async ({ p, reader }) => {
        let out = "";
        for (let c = await reader.read(); !c.done; c = await reader.read()) out += new TextDecoder().decode(c.value);
        const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
        if (code !== 0) throw new Error(err);
        return JSON.parse(out.trim()) as { ok: number; out: number };
      }),
    );
    expect(results.reduce((n, r) => n + r.ok, 0)).toBe(10);
    expect(results.reduce((n, r) => n + r.out, 0)).toBe(90);
    const db = new Database(path, { readonly: true });
    expect(db.query<{ stock: number }, [string]>("SELECT stock FROM products WHERE id = ?").get(productId)?.stock).toBe(0);
    expect(count(db, "SELECT count(*) AS n FROM reservations")).toBe(10);
    db.close();
  }, 20_000);
});
