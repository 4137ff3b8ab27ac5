import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Kysely } from "kysely";
import { createMemoryBus } from "../../src/kernel/bus/memory.ts";
import type { Bus, Msg } from "../../src/kernel/bus/types.ts";
import { createMemoryEventStream } from "../../src/kernel/events/memory.ts";
import type { EventStream } from "../../src/kernel/events/types.ts";
import { newId } from "../../src/kernel/ids.ts";
import { createLogger } from "../../src/kernel/logger.ts";
import type { DatabaseConfig } from "../../src/kernel/module.ts";
import { Outbox, OutboxRelay, outboxMigration } from "../../src/kernel/outbox/index.ts";
import { openDatabase, type ModuleDb } from "../../src/kernel/storage/database.ts";
import { migrate } from "../../src/kernel/storage/migrate.ts";
import { DATABASES, freshPostgresDatabase, usePostgres } from "../helpers/databases.ts";
import { eventually } from "../helpers/eventually.ts";

usePostgres();

const SUBJECT = "t.happened";
const logger = createLogger({ level: "silent", pretty: false });

/** Publishes through `inner` but rejects while `failing` is set (a NATS outage). */
function flaky(inner: EventStream): EventStream & { failing: boolean } {
  const s = {
    failing: false,
    kind: "flaky",
    declare: (m: string, subjects: readonly string[]) => inner.declare(m, subjects),
    publish: (subject: string, data: Uint8Array, opts: { eventId: string }) =>
      s.failing ? Promise.reject(new Error("nats down")) : inner.publish(subject, data, opts),
    consume: inner.consume.bind(inner),
    close: () => inner.close(),
  };
  return s;
}

interface Tables {
  items: { id: string };
}

/** One database with an `items` table and the outbox: a change plus its events in one transaction. */
interface Db {
  outbox: Outbox<Tables>;
  /** Inserts `n` items with one event each, in one transaction (rolled back when `fail`), then notifies. */
  change(n: number, fail?: boolean): Promise<string[]>;
  count(sql: string): Promise<number>;
  /** A second outbox on a second pool (another instance; PostgreSQL only). */
  second(): Promise<Outbox<Tables> | undefined>;
  /** A transaction handle, for the outside-a-transaction check. */
  kysely: Kysely<Tables>;
  close(): Promise<void>;
}

async function openDb(kind: "sqlite" | "postgres"): Promise<Db> {
  const dir = kind === "sqlite" ? mkdtempSync(join(tmpdir(), "sy-outbox-")) : undefined;
  const config: DatabaseConfig = dir
    ? { kind: "sqlite", path: join(dir, "outbox.sqlite") }
    : { kind: "postgres", url: await freshPostgresDatabase(), poolMax: 4 };
  const dbs: ModuleDb<Tables>[] = [openDatabase<Tables>(config)];
  const mdb = dbs[0] as ModuleDb<Tables>;
  await migrate(mdb, [{ version: 1, name: "items", up: "CREATE TABLE items (id text PRIMARY KEY)" }, outboxMigration(2)]);
  const outbox = new Outbox(mdb);
  return {
    outbox,
    kysely: mdb.db,
    async change(n, fail = false) {
      const ids = Array.from({ length: n }, () => newId());
      try {
        await mdb.db.transaction().execute(async (trx) => {
          for (const id of ids) {
            await trx.insertInto("items").values({ id }).execute();
            await outbox.add(trx, SUBJECT, { eventId: id }, { "sy-request-id": "r1" });
          }
          if (fail) throw new Error("rollback");
        });
      } catch (err) {
        if (!fail) throw err;
        return [];
      }
      void outbox.committed([SUBJECT]);
      return ids;
    },
    count: async (q) => {
      const { sql } = await import("kysely");
      const { rows } = await sql<{ n: number }>`${sql.raw(q)}`.execute(mdb.db);
      return Number(rows[0]?.n ?? 0);
    },
    async second() {
      if (config.kind !== "postgres") return undefined;
      const other = openDatabase<Tables>(config);
      dbs.push(other);
      return new Outbox(other);
    },
    close: async () => {
      await Promise.all(dbs.map((d) => d.close()));
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

for (const kind of DATABASES) {
  describe(`transactional outbox [${kind}]`, () => {
    let bus: Bus;
    let events: ReturnType<typeof flaky>;
    let db: Db;
    let seen: { eventId: string; requestId: string | undefined }[];
    const relays: OutboxRelay[] = [];
    const relay = (source: Outbox<Tables>, pollMs = 50, minPassIntervalMs?: number) => {
      const r = new OutboxRelay({ source, events, logger, pollMs, ...(minPassIntervalMs !== undefined ? { minPassIntervalMs } : {}) });
      relays.push(r);
      r.start();
      return r;
    };

    beforeEach(async () => {
      bus = createMemoryBus();
      events = flaky(createMemoryEventStream(bus));
      await events.declare("t", [SUBJECT]);
      seen = [];
      bus.subscribe(
        SUBJECT,
        (m: Msg) => void seen.push({ eventId: m.json<{ eventId: string }>().eventId, requestId: m.headers["sy-request-id"] }),
      );
      db = await openDb(kind);
    }, 60_000);
    afterEach(async () => {
      await Promise.all(relays.splice(0).map((r) => r.stop()));
      await db.close();
      await bus.close();
    });

    test("committed events are published in commit order with their headers, and marked sent", async () => {
      relay(db.outbox, 60_000); // no polling: the commit wakes it
      const a = await db.change(3);
      const b = await db.change(2);
      await eventually("seen.length === 5", () => seen.length === 5);
      expect(seen.map((e) => e.eventId)).toEqual([...a, ...b]);
      expect(seen.every((e) => e.requestId === "r1")).toBe(true);
      // A batch is marked sent after its last publish: subscribers can see the events first.
      await eventually(
        '(await db.count("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL")) === 0',
        async () => (await db.count("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL")) === 0,
      );
      expect(await db.count("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL")).toBe(0);
    });

    test("a rolled-back change publishes nothing", async () => {
      relay(db.outbox);
      await db.change(2, true);
      const ok = await db.change(1);
      await eventually("seen.length === 1", () => seen.length === 1);
      await Bun.sleep(150); // a window in which the rolled-back change must NOT be published
      expect(seen.map((e) => e.eventId)).toEqual(ok);
      expect(await db.count("SELECT count(*) AS n FROM outbox")).toBe(1);
    });

    test("events committed while nothing relays (a crashed process) are published by the next relay", async () => {
      const ids = await db.change(4);
      expect(await db.count("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL")).toBe(4);
      relay(db.outbox);
      await eventually("seen.length === 4", () => seen.length === 4);
      expect(seen.map((e) => e.eventId)).toEqual(ids);
    });

    test("publish failures keep the rows; they are published once, in order, when the stream is back", async () => {
      const r = relay(db.outbox);
      events.failing = true;
      const ids = [...(await db.change(3)), ...(await db.change(3))];
      await eventually("r.stats.failures >= 2", () => r.stats.failures >= 2);
      expect(seen).toEqual([]);
      expect(await db.count("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL")).toBe(6);
      events.failing = false;
      await eventually("seen.length === 6", () => seen.length === 6);
      await Bun.sleep(150); // a window in which no duplicate may follow
      expect(seen.map((e) => e.eventId)).toEqual(ids);
    });

    test("committed() resolves after a pass that saw the commit", async () => {
      relay(db.outbox, 60_000);
      const ids = await db.change(1);
      await db.outbox.committed([SUBJECT]);
      expect(seen.map((e) => e.eventId)).toEqual(ids);
    });

    test("commits close together share a pass; each committed() still resolves after its events were published", async () => {
      const r = relay(db.outbox, 60_000, 100);
      await db.change(1);
      await eventually("seen.length === 1", () => seen.length === 1);
      const passesBefore = r.stats.passes;
      // Within 100 ms of the first pass: these wait for one shared pass.
      const ids: string[] = [];
      const waits: Promise<void>[] = [];
      for (let i = 0; i < 5; i++) {
        ids.push(...(await db.change(1)));
        waits.push(db.outbox.committed([SUBJECT]));
      }
      await Promise.all(waits);
      expect(seen.slice(1).map((e) => e.eventId)).toEqual(ids);
      expect(r.stats.passes - passesBefore).toBeLessThanOrEqual(2);
      expect(await db.count("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL")).toBe(0);
    });

    test("relayBatch marks the events published before a failure, and rethrows it", async () => {
      const ids = await db.change(4);
      let n = 0;
      const publish = async (): Promise<void> => {
        if (++n === 3) throw new Error("nats down");
      };
      await expect(db.outbox.relayBatch(10, publish)).rejects.toThrow("nats down");
      expect(await db.count("SELECT count(*) AS n FROM outbox WHERE sent_at IS NOT NULL")).toBe(2);
      const left: string[] = [];
      expect(await db.outbox.relayBatch(10, async (rec) => void left.push(rec.eventId))).toBe(2);
      expect(left).toEqual(ids.slice(2));
    });

    test("add outside a transaction is refused", async () => {
      await expect(db.outbox.add(db.kysely, SUBJECT, { eventId: newId() })).rejects.toThrow(/inside the transaction/);
    });

    if (kind === "postgres") {
      test("two relays on one table (two instances) publish every row exactly once", async () => {
        const ids: string[] = [];
        for (let i = 0; i < 20; i++) ids.push(...(await db.change(10)));
        const other = (await db.second()) as Outbox<Tables>;
        relay(db.outbox, 20);
        relay(other, 20);
        await eventually("seen.length >= 200", () => seen.length >= 200, { timeoutMs: 20_000 });
        await Bun.sleep(300); // a window in which no duplicate from the second relay may follow
        expect(seen.length).toBe(200);
        expect(new Set(seen.map((e) => e.eventId))).toEqual(new Set(ids));
      });
    }
  });
}

describe("outbox under --migrate", () => {
  test("a migrate-only kernel starts no relay: unsent events stay for the real processes", async () => {
    const { Kernel } = await import("../../src/kernel/kernel.ts");
    const { createMemoryRegistry } = await import("../../src/kernel/registry/memory.ts");
    const { testConfig } = await import("../helpers/modules.ts");
    const dir = mkdtempSync(join(tmpdir(), "sy-outbox-"));
    const mdb = openDatabase<Tables>({ kind: "sqlite", path: join(dir, "t.sqlite") });
    await migrate(mdb, [outboxMigration(1)]);
    const outbox = new Outbox(mdb);
    await mdb.db.transaction().execute((trx) => outbox.add(trx, SUBJECT, { eventId: newId() }));
    const bus = createMemoryBus();
    const seen: string[] = [];
    bus.subscribe(SUBJECT, (m: Msg) => void seen.push(m.subject));
    const module = {
      name: "t",
      version: "0.0.0",
      dependsOn: [],
      typeDefs: `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"]) type Query { ok: Boolean }`,
      subjects: [],
      publishes: [SUBJECT],
      consumes: [],
      async start(ctx: import("../../src/kernel/module.ts").ModuleContext) {
        expect(ctx.migrateOnly).toBe(true);
        ctx.relayOutbox(outbox);
        return { resolvers: {} };
      },
    };
    const kernel = new Kernel({
      bus,
      registry: createMemoryRegistry(),
      config: testConfig({ outboxPollMs: 10 }),
      logger,
      migrateOnly: true,
    });
    kernel.addModule(module);
    await kernel.start();
    await Bun.sleep(100); // a window in which a relay (that must not run with migrateOnly) would publish
    await kernel.stop();
    expect(seen).toEqual([]);
    expect(await outbox.pending()).toBe(1);
    await mdb.close();
    rmSync(dir, { recursive: true, force: true });
    await bus.close();
  });
});
