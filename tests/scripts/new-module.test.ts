import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { addToModuleList, createModule } from "../../scripts/new-module.ts";
import { cruise } from "../architecture/cruise.ts";
import { client, expectCode, uniqueEmail } from "../helpers/client.ts";
import type { DatabaseConfig } from "../../src/kernel/module.ts";
import { freshPostgresDatabase, openProbe, usePostgres, WITH_POSTGRES } from "../helpers/databases.ts";
import { freePort } from "../helpers/ports.ts";
import { spawnChild, waitHttpOk, type Child } from "../helpers/process.ts";
import { ROOT } from "../helpers/topology.ts";

/**
 * `npm run new-module`: the scaffold is generated into a copy of this project's `src/` (inside
 * the repository, so `node_modules` resolves), then must typecheck, keep the module boundaries,
 * compose into the supergraph and answer through the gateway of a monolith started from that
 * copy, and its PostgreSQL store must work against a real server.
 */
setDefaultTimeout(60_000);
usePostgres();

let project: string;
let server: Child | undefined;
let dataDir: string;

beforeAll(() => {
  project = mkdtempSync(join(ROOT, ".tmp-new-module-"));
  cpSync(join(ROOT, "src"), join(project, "src"), { recursive: true });
  writeFileSync(join(project, "tsconfig.json"), JSON.stringify({ extends: "../tsconfig.json", include: ["src"] }));
  dataDir = mkdtempSync(join(tmpdir(), "switchyard-new-module-"));
});

afterAll(async () => {
  await server?.stop();
  rmSync(project, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
});

describe("npm run new-module", () => {
  test("refuses invalid and taken names (exit 2, nothing written)", async () => {
    for (const args of [["Bad-Name"], ["gateway"], ["catalog"], []]) {
      const p = Bun.spawn([process.execPath, join(ROOT, "scripts/new-module.ts"), ...args, "--root", project], {
        stdout: "pipe",
        stderr: "pipe",
      });
      expect(await p.exited).toBe(2);
    }
    expect(readFileSync(join(project, "src/module-list.ts"), "utf8")).toBe(readFileSync(join(ROOT, "src/module-list.ts"), "utf8"));
  });

  test("the CLI writes the module and registers it in src/module-list.ts", async () => {
    const p = Bun.spawn([process.execPath, join(ROOT, "scripts/new-module.ts"), "review", "--root", project], {
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await p.exited).toBe(0);
    const list = readFileSync(join(project, "src/module-list.ts"), "utf8");
    expect(list).toContain('import { reviewModule, register as registerReview } from "./modules/review/index.ts";');
    expect(list).toContain("  review: registerReview,");
    expect(list).toContain("  review: reviewModule,");
    expect(() => createModule(project, "review")).toThrow(/exists already/);
    expect(() => addToModuleList("export const X = 1;", "x1")).toThrow(/expected shape/);
  });

  test("the project typechecks with it and the module boundaries hold", () => {
    const tsc = Bun.spawnSync([join(ROOT, "node_modules/.bin/tsc"), "--noEmit", "-p", join(project, "tsconfig.json")], {
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(tsc.stdout.toString() + tsc.stderr.toString()).toBe("");
    expect(tsc.exitCode).toBe(0);
    expect(existsSync(join(project, "src", "modules", "review", "contract", "index.ts"))).toBe(true);
    // The repository's architecture rules (.dependency-cruiser.cjs) over the copy with the new module.
    expect(cruise(project).violations).toEqual([]);
  });

  test("MODULES=all: the new subgraph composes and answers through the gateway (auth, validation, entity)", async () => {
    const port = await freePort();
    server = spawnChild([process.execPath, join(project, "src/main.ts")], {
      MODULES: "all",
      PORT: String(port),
      OPS_PORT: "0",
      HOST: "127.0.0.1",
      DATA_DIR: dataDir,
      JWT_SECRET: "new-module-test-secret-new-module-test-secret",
      LOG_LEVEL: "warn",
      RATE_LIMIT_MAX: "0",
    });
    await waitHttpOk(server, `http://127.0.0.1:${port}/health/ready`);
    const url = `http://127.0.0.1:${port}/graphql`;
    const anon = client(url);
    await expectCode(anon.request('mutation { createReviewItem(name: "x") { id } }'), "UNAUTHENTICATED");
    const { register } = await anon.request<{ register: { token: string; account: { id: string } } }>(
      "mutation($i: RegisterInput!) { register(input: $i) { token account { id } } }",
      { i: { name: "Scaffold User", email: uniqueEmail("scaffold"), password: "scaffold password 123" } },
    );
    const user = client(url, register.token);
    await expectCode(user.request('mutation { createReviewItem(name: "  ") { id } }'), "BAD_USER_INPUT");
    const { createReviewItem } = await user.request<{ createReviewItem: { id: string; name: string; createdBy: string } }>(
      'mutation { createReviewItem(name: " first ") { id name createdBy } }',
    );
    expect(createReviewItem.name).toBe("first");
    expect(createReviewItem.createdBy).toBe(register.account.id);
    await user.request('mutation { createReviewItem(name: "second") { id } }');
    const list = await anon.request<{ reviewItems: { name: string }[]; reviewItem: { id: string } | null }>(
      `{ reviewItems(first: 10) { name } reviewItem(id: "${createReviewItem.id}") { id } }`,
    );
    expect(list.reviewItems.map((i) => i.name)).toEqual(["second", "first"]);
    expect(list.reviewItem?.id).toBe(createReviewItem.id);
    await expectCode(anon.request("{ reviewItems(first: 1000) { id } }"), "BAD_USER_INPUT");
  });

  test.if(WITH_POSTGRES)("switchyard data copy moves its tables from SQLite to PostgreSQL with no change to the tool", async () => {
    // The monolith of the test above wrote two items (and their outbox rows) into DATA_DIR.
    const url = await freshPostgresDatabase();
    const p = Bun.spawn(
      [
        process.execPath,
        join(project, "src/main.ts"),
        "data",
        "copy",
        "--from",
        dataDir,
        "--to",
        url,
        "--modules",
        "review",
        "--progress",
        "none",
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    const [code, stdout, stderr] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/review\s+items\s+2\s+2\s+match/);
    expect(stdout).toMatch(/review\s+outbox\s+2\s+2\s+match/);
    const probe = openProbe({ kind: "postgres", url: `${url}?search_path=review`, poolMax: 1 });
    try {
      expect((await probe.all<{ name: string }>("SELECT name FROM items ORDER BY seq")).map((r) => r.name)).toEqual(["first", "second"]);
    } finally {
      await probe.close();
    }
  });

  test.if(WITH_POSTGRES)("its PostgreSQL store migrates, writes the item with its outbox event, and reads it back", async () => {
    const { openReviewDatabase } = (await import(join(project, "src/modules/review/storage/store.ts"))) as {
      openReviewDatabase(config: DatabaseConfig): Promise<{
        create(i: { id: string; name: string; createdBy: string; createdAt: string }): Promise<unknown>;
        byId(id: string): Promise<{ id: string; name: string; createdAt: string } | null>;
        list(first: number): Promise<{ id: string }[]>;
        close(): Promise<void>;
      }>;
    };
    const config: DatabaseConfig = { kind: "postgres", url: await freshPostgresDatabase(), poolMax: 2 };
    const store = await openReviewDatabase(config);
    const probe = openProbe(config);
    try {
      const at = new Date().toISOString();
      await store.create({ id: "r1", name: "one", createdBy: "a1", createdAt: at });
      await store.create({ id: "r2", name: "two", createdBy: "a1", createdAt: at });
      expect(await store.byId("r1")).toEqual({ id: "r1", name: "one", createdBy: "a1", createdAt: at } as never);
      expect((await store.list(10)).map((i) => i.id)).toEqual(["r2", "r1"]);
      expect(await store.byId("nope")).toBeNull();
      const events = await probe.all<{ subject: string }>("SELECT subject FROM outbox ORDER BY seq");
      expect(events.map((e) => e.subject)).toEqual(["review.item_created", "review.item_created"]);
    } finally {
      await probe.close();
      await store.close();
    }
  });
});
