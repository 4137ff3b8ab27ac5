/**
 * `npm run start:split` (scripts/start-split.ts) and Ctrl-C: the terminal sends SIGINT to the
 * whole foreground process group. The script must stop the binary's processes first and only
 * then nats-server, etcd and PostgreSQL, so no process logs an error on the way down, and it
 * must name the number of processes it really runs.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { SPLIT_MODULES, splitProcessCount, stopInOrder } from "../../scripts/split-topology.ts";
import { verifyToken } from "../../src/kernel/auth/jwt.ts";
import { freePort } from "../helpers/ports.ts";
import { ROOT } from "../helpers/topology.ts";
import { spawnChild } from "../helpers/process.ts";
import { eventually, GiveUp } from "../helpers/eventually.ts";
import { freshPostgresDatabase, openProbe, usePostgres, WITH_POSTGRES } from "../helpers/databases.ts";

usePostgres();

describe("split topology helpers", () => {
  test("process count: one per module instance plus the gateway", () => {
    expect(splitProcessCount()).toBe(SPLIT_MODULES.length + 1);
    expect(splitProcessCount({ catalog: 3 })).toBe(SPLIT_MODULES.length + 3);
  });

  test("stop order: gateways, then modules, then infrastructure", async () => {
    const events: string[] = [];
    const proc = (part: string) => ({ part, server: { kill: async () => void events.push(`${part} stopped`) } as never });
    const infra = (name: string) => ({ stop: async () => void events.push(`${name} stopped`) });
    await stopInOrder([proc("order"), proc("gateway"), proc("catalog")], [infra("nats"), infra("etcd")]);
    expect(events.slice(0, 1)).toEqual(["gateway stopped"]);
    expect(new Set(events.slice(1, 3))).toEqual(new Set(["order stopped", "catalog stopped"]));
    expect(new Set(events.slice(3))).toEqual(new Set(["nats stopped", "etcd stopped"]));
  });
});

describe("npm run start:split, then Ctrl-C", () => {
  let group: number | undefined;
  afterAll(() => {
    // Whatever is left of the process group (nothing, when the test passed).
    if (group) {
      try {
        process.kill(-group, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });

  test("SIGINT to the foreground process group: the 5 processes stop cleanly first, then NATS, etcd, PostgreSQL; no error logs", async () => {
    const port = await freePort();
    // detached: a process group of its own, like the foreground job of a terminal.
    const child = spawnChild([process.execPath, "scripts/start-split.ts"], { PORT: String(port), LOG_LEVEL: "info" }, ROOT, {
      detached: true,
    });
    const proc = child.proc;
    group = proc.pid;
    await eventually(
      "the split topology to be up",
      () => {
        if (proc.exitCode !== null) throw new GiveUp(`exited ${proc.exitCode}:\n${child.output()}`);
        return child.output().includes("Ctrl-C stops everything.");
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    expect(child.output()).toContain(`starting nats-server, etcd, PostgreSQL and ${SPLIT_MODULES.length + 1} processes`);
    expect(child.output()).toContain(`topology is up (${SPLIT_MODULES.length + 1} processes)`);
    const nats = /NATS\s+nats:\/\/127\.0\.0\.1:(\d+)/.exec(child.output())?.[1];
    const etcd = /etcd\s+http:\/\/127\.0\.0\.1:(\d+)/.exec(child.output())?.[1];
    expect(nats && etcd).toBeTruthy();
    const upTo = child.output().length;

    process.kill(-proc.pid, "SIGINT"); // what Ctrl-C does
    const timer = setTimeout(() => process.kill(-proc.pid, "SIGKILL"), 60_000);
    const code = await proc.exited;
    clearTimeout(timer);
    // The output is complete once both pipes close (bounded: a stopped dev server could hold one).
    await Promise.race([child.ended(), Bun.sleep(5000)]);
    const shutdown = child.output().slice(upTo);
    expect(code).toBe(0);
    expect(shutdown).toContain(`stopping the ${SPLIT_MODULES.length + 1} processes, then nats-server, etcd and PostgreSQL`);
    // Every process of the binary drained and said goodbye...
    expect(shutdown.match(/"msg":"bye"/g)?.length).toBe(SPLIT_MODULES.length + 1);
    // ...with nothing at error level (50) or above on the way: the infrastructure was still up.
    const errors = shutdown.split("\n").filter((l) => /"level":(5\d|6\d)/.test(l));
    expect(errors).toEqual([]);
    // And the infrastructure is gone too.
    for (const p of [nats, etcd])
      expect(
        await fetch(`http://127.0.0.1:${p}/`).then(
          () => "open",
          () => "closed",
        ),
      ).toBe("closed");
    group = undefined;
  }, 200_000);
});

/**
 * The one-machine journey of docs/switching-modes.md: `npm run start:split` on the PostgreSQL
 * the monolith's data was copied to (`DATABASE_URL`), with the monolith's `JWT_SECRET`.
 */
describe.skipIf(!WITH_POSTGRES)("npm run start:split with DATABASE_URL and JWT_SECRET", () => {
  test("DATABASE_URL that is not postgres://: refused with exit 2 before anything starts", async () => {
    const child = spawnChild([process.execPath, "scripts/start-split.ts"], { DATABASE_URL: "sqlite:./data" }, ROOT);
    expect(await child.proc.exited).toBe(2);
    await child.ended();
    expect(child.output()).toContain("DATABASE_URL must be a postgres:// URL");
    expect(child.output()).not.toContain("starting nats-server");
  });

  test("every module runs on its schema of that database (no PostgreSQL of its own) and signs with that secret", async () => {
    const databaseUrl = await freshPostgresDatabase();
    const jwtSecret = "start-split-secret-start-split-secret-0123456789";
    const port = await freePort();
    const child = spawnChild(
      [process.execPath, "scripts/start-split.ts"],
      { PORT: String(port), DATABASE_URL: databaseUrl, JWT_SECRET: jwtSecret },
      ROOT,
      {
        detached: true,
      },
    );
    const proc = child.proc;
    try {
      await eventually(
        "the split topology to be up",
        () => {
          if (proc.exitCode !== null) throw new GiveUp(`exited ${proc.exitCode}:\n${child.output()}`);
          return child.output().includes("Ctrl-C stops everything.");
        },
        { timeoutMs: 120_000, intervalMs: 200 },
      );
      expect(child.output()).toContain(`starting nats-server, etcd and ${SPLIT_MODULES.length + 1} processes on DATABASE_URL`);
      expect(child.output()).toContain("PostgreSQL DATABASE_URL, a schema per module");
      const email = `start-split-${crypto.randomUUID()}@example.com`;
      const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          query: "mutation($input: RegisterInput!) { register(input: $input) { token account { id } } }",
          variables: { input: { name: "Split", email, password: "correct horse battery staple" } },
        }),
      });
      const body = (await res.json()) as { data?: { register: { token: string; account: { id: string } } } };
      const registered = body.data?.register;
      expect(registered?.account.id).toBeString();
      // Signed with the JWT_SECRET given, not the topology's own.
      expect((await verifyToken(jwtSecret, registered?.token as string)).accountId).toBe(registered?.account.id as string);
      // Stored in the account schema of the database given.
      const u = new URL(databaseUrl);
      u.searchParams.set("search_path", "account");
      const probe = openProbe({ kind: "postgres", url: u.toString(), poolMax: 1 });
      try {
        expect(await probe.get<{ id: string }>("SELECT id FROM accounts WHERE email = ?", email)).toEqual({
          id: registered?.account.id as string,
        });
      } finally {
        await probe.close();
      }
    } finally {
      process.kill(-proc.pid, "SIGINT");
      const timer = setTimeout(() => process.kill(-proc.pid, "SIGKILL"), 60_000);
      const code = await proc.exited;
      clearTimeout(timer);
      expect(code).toBe(0);
    }
    expect(child.output()).toContain(`stopping the ${SPLIT_MODULES.length + 1} processes, then nats-server, etcd...`);
  }, 200_000);
});
