import { expect } from "bun:test";
import { runData } from "../../src/cli/data.ts";
import { sharedDatabase } from "../../src/kernel/storage/resolve.ts";
import { MODULE_DEFINITIONS } from "../../src/module-list.ts";
import { sql } from "kysely";
import type { Identity } from "../../src/kernel/identity.ts";
import type { DatabaseConfig } from "../../src/kernel/module.ts";
import { openDatabase } from "../../src/kernel/storage/database.ts";
import { newId } from "../../src/kernel/ids.ts";
import { accountModule } from "../../src/modules/account/module.ts";
import { catalogModule } from "../../src/modules/catalog/module.ts";
import { createOrderModule } from "../../src/modules/order/module.ts";
import { createPaymentModule } from "../../src/modules/payment/module.ts";
import type { DatabaseKind } from "../helpers/databases.ts";
import { eventually } from "../helpers/eventually.ts";
import { type ModuleHarness, startModules } from "../helpers/modules.ts";

/**
 * Realistic data in all four modules for the data-move tests, made by the real modules (memory
 * bus, SQLite or PostgreSQL): accounts with password hashes, sessions and refresh tokens; the
 * demo catalog plus a created category and product; orders with items, one paid (payment
 * captured, saga done, events relayed and consumed into the catalog's inbox), one pending with
 * its reservation; then, with the modules stopped, the rows a crash leaves: a pending saga, a
 * reservation intent, an unsent outbox row.
 */

export const MODULE_NAMES = ["account", "catalog", "order", "payment"] as const;

const REGISTER = `mutation R($input: RegisterInput!) { register(input: $input) { account { id } } }`;
const CATEGORY = `mutation C($name: String!) { createCategory(name: $name) { id } }`;
const PRODUCT = `mutation P($input: CreateProductInput!) { createProduct(input: $input) { id } }`;
const CREATE = `mutation C($input: CreateOrderInput!) { createOrder(input: $input) { id } }`;
const PAY = `mutation P($id: ID!, $token: String!) { payOrder(orderId: $id, payment: { token: $token }) { id status } }`;
const PRODUCTS = `{ products(first: 5) { edges { node { id stock } } } }`;

/** Starts the four modules on `kind` (PostgreSQL: a fresh database), fills them, stops them. */
export async function populate(
  kind: DatabaseKind,
  dataDir?: string,
): Promise<{ database: (m: string) => DatabaseConfig; postgresUrl?: string }> {
  const h = await startModules(
    [accountModule, catalogModule, createPaymentModule(), createOrderModule()],
    { seed: true, ...(dataDir ? { dataDir } : {}) },
    { database: kind },
  );
  try {
    await fill(h);
  } finally {
    await h.stop();
  }
  const database = h.database;
  await crashLeftovers(database);
  return { database, ...(h.postgresUrl ? { postgresUrl: h.postgresUrl } : {}) };
}

async function ok<T>(h: ModuleHarness, module: string, query: string, variables: Record<string, unknown>, identity?: Identity): Promise<T> {
  const r = await h.query<T>(module, query, variables, identity);
  expect(r.errors).toBeUndefined();
  return r.data as T;
}

async function fill(h: ModuleHarness): Promise<void> {
  const accounts: string[] = [];
  for (const [i, name] of ["Ada Lovelace", "Grace Hopper", "Zoë Ünïcode"].entries()) {
    const r = await ok<{ register: { account: { id: string } } }>(h, "account", REGISTER, {
      input: { name, email: `user${i}@example.com`, password: `password-${i}-secret` },
    });
    accounts.push(r.register.account.id);
  }
  const admin: Identity = { accountId: accounts[0] as string, roles: ["admin"] };
  const cat = await ok<{ createCategory: { id: string } }>(h, "catalog", CATEGORY, { name: "Copied goods" }, admin);
  await ok(
    h,
    "catalog",
    PRODUCT,
    {
      input: {
        name: "Zebra grinder",
        description: "Burr grinder, ceramic — “quoted” text",
        priceCents: 12_345,
        currency: "EUR",
        categoryId: cat.createCategory.id,
        stock: 7,
      },
    },
    admin,
  );
  const products = await ok<{ products: { edges: { node: { id: string; stock: number } }[] } }>(h, "catalog", PRODUCTS, {});
  const [p1, p2] = products.products.edges.filter((e) => e.node.stock >= 10).map((e) => e.node.id);
  const buyer: Identity = { accountId: accounts[1] as string, roles: ["customer"] };
  const paid = await ok<{ createOrder: { id: string } }>(
    h,
    "order",
    CREATE,
    {
      input: {
        items: [
          { productId: p1, quantity: 2 },
          { productId: p2, quantity: 1 },
        ],
      },
    },
    buyer,
  );
  await ok(h, "order", CREATE, { input: { items: [{ productId: p2, quantity: 3 }] } }, buyer);
  const pay = await ok<{ payOrder: { status: string } }>(h, "order", PAY, { id: paid.createOrder.id, token: "tok_visa" }, buyer);
  expect(pay.payOrder.status).toBe("PAID");
  // The paid order's events reach the catalog (committed in its inbox) and every outbox row is sent.
  const catalogDb = openDatabase<unknown>(h.database("catalog"));
  const orderDb = openDatabase<unknown>(h.database("order"));
  try {
    await eventually(
      "order events consumed by the catalog and every outbox relayed",
      async () => {
        const inbox = await sql<{ n: number }>`SELECT count(*) AS n FROM inbox`.execute(catalogDb.db);
        const unsent = await sql<{ n: number }>`SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL`.execute(orderDb.db);
        return Number(inbox.rows[0]?.n) > 0 && Number(unsent.rows[0]?.n) === 0;
      },
      { timeoutMs: 10_000 },
    );
  } finally {
    await catalogDb.close();
    await orderDb.close();
  }
}

/** What a crash leaves behind, written straight into the databases (the modules are stopped). */
async function crashLeftovers(database: (m: string) => DatabaseConfig): Promise<void> {
  const order = openDatabase<unknown>(database("order"));
  try {
    const pending = await sql<{ id: string; account_id: string; total_cents: number; currency: string }>`
      SELECT id, account_id, total_cents, currency FROM orders WHERE status = 'PENDING'`.execute(order.db);
    const o = pending.rows[0];
    if (!o) throw new Error("fixture: no pending order");
    const paymentId = newId();
    const now = new Date().toISOString();
    await sql`INSERT INTO payment_sagas (order_id, payment_id, account_id, token, amount_cents, currency, step, status,
        failure_code, failure_message, authorize_key, capture_key, void_key, refund_key, attempts, lease_until, created_at, updated_at)
      VALUES (${o.id}, ${paymentId}, ${o.account_id}, 'tok_visa', ${o.total_cents}, ${o.currency}, 'AUTHORIZE', 'RUNNING',
        NULL, NULL, ${`${o.id}:${paymentId}:authorize`}, ${`${o.id}:${paymentId}:capture`}, ${`${o.id}:${paymentId}:void`},
        ${`${o.id}:${paymentId}:refund`}, 1, 0, ${now}, ${now})`.execute(order.db);
    await sql`INSERT INTO reservation_intents (order_id, created_at, account_id, swept_at) VALUES (${newId()}, ${now}, ${o.account_id}, NULL)`.execute(
      order.db,
    );
    await sql`INSERT INTO outbox (event_id, subject, payload, headers, created_at, sent_at)
      VALUES (${newId()}, 'order.status_changed', ${JSON.stringify({ orderId: o.id, status: "PENDING", note: "unsent" })},
        ${JSON.stringify({ "x-request-id": "r1", b: "2" })}, ${now}, NULL)`.execute(order.db);
  } finally {
    await order.close();
  }
}

/** JSON with sorted keys (jsonb reorders keys; SQLite keeps the text). */
function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === "object")
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
    );
  return v;
}

/**
 * Every row of every table of a module database (store pools: timestamps ISO, int8 numbers),
 * as comparable text: only `columns` (those both sides have), JSON text and arrays parsed and
 * key-sorted, rows sorted. Independent of the copy's own code.
 */
export async function dumpTable(db: DatabaseConfig, table: string, columns: readonly string[]): Promise<string[]> {
  const mdb = openDatabase<unknown>(db);
  try {
    const { rows } = await sql<Record<string, unknown>>`SELECT * FROM ${sql.id(table)}`.execute(mdb.db);
    return rows
      .map((r) =>
        JSON.stringify(
          columns.map((c) => {
            const v = r[c];
            if (typeof v === "string" && /^[[{]/.test(v)) {
              try {
                return [c, sorted(JSON.parse(v))];
              } catch {
                return [c, v];
              }
            }
            return [c, Array.isArray(v) ? sorted(v) : v];
          }),
        ),
      )
      .sort();
  } finally {
    await mdb.close();
  }
}

/** Column names of `table` (computed PostgreSQL columns excluded). */
export async function columnsOf(db: DatabaseConfig, table: string): Promise<string[]> {
  const mdb = openDatabase<unknown>(db);
  try {
    if (mdb.dialect === "sqlite") {
      const { rows } = await sql<{ name: string }>`SELECT name FROM pragma_table_xinfo(${table}) WHERE hidden = 0`.execute(mdb.db);
      return rows.map((r) => r.name);
    }
    const { rows } = await sql<{ column_name: string }>`SELECT column_name FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = ${table} AND is_generated = 'NEVER'`.execute(mdb.db);
    return rows.map((r) => r.column_name);
  } finally {
    await mdb.close();
  }
}

/** Tables of each module (derived ones and bookkeeping excluded). */
export const TABLES: Record<(typeof MODULE_NAMES)[number], readonly string[]> = {
  account: ["accounts", "sessions", "refresh_tokens", "outbox"],
  catalog: ["categories", "products", "reservations", "reservation_items", "outbox", "inbox"],
  order: ["orders", "order_items", "payment_sagas", "reservation_intents", "outbox"],
  payment: ["payments", "payment_commands", "outbox"],
};

/** Runs `switchyard data ...` in process; returns exit code and output. */
export async function data(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runData(argv, MODULE_DEFINITIONS, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    stderrIsTTY: false,
  });
  return { code, stdout, stderr };
}

/** Module `m`'s database at a `--from`/`--to` location (directory or PostgreSQL URL). */
export const at = (where: string, m: string): DatabaseConfig =>
  sharedDatabase(where.startsWith("postgres") ? where : `sqlite:${where}`, m, 2);

/** Every table of every module holds the same rows on both sides (columns both sides have). */
export async function expectSameRows(from: string, to: string): Promise<void> {
  for (const m of MODULE_NAMES) {
    for (const table of TABLES[m]) {
      const a = at(from, m);
      const b = at(to, m);
      const bCols = new Set(await columnsOf(b, table));
      const cols = (await columnsOf(a, table)).filter((c) => bCols.has(c));
      const left = await dumpTable(a, table, cols);
      const right = await dumpTable(b, table, cols);
      expect({ table: `${m}.${table}`, rows: right }).toEqual({ table: `${m}.${table}`, rows: left });
      expect(left.length).toBeGreaterThan(0);
    }
  }
}

/** Catalog search on the target finds the created product (FTS5 index / tsvector and search_state rebuilt). */
export async function expectSearchWorks(target: { kind: "sqlite"; dir: string } | { kind: "postgres"; url: string }): Promise<void> {
  const h =
    target.kind === "sqlite"
      ? await startModules([catalogModule], { dataDir: target.dir })
      : await startModules([catalogModule], {}, { database: "postgres", postgresUrl: target.url });
  try {
    const r = await h.query<{ products: { edges: { node: { name: string; price: { cents: number } } }[] } }>(
      "catalog",
      `{ products(first: 5, search: "zebra grind") { edges { node { name price { cents } } } } }`,
    );
    expect(r.errors).toBeUndefined();
    expect(r.data?.products.edges.map((e) => e.node)).toEqual([{ name: "Zebra grinder", price: { cents: 12_345 } }]);
  } finally {
    await h.stop();
  }
}
