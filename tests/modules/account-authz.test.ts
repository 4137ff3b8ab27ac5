import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { verifyToken } from "../../src/kernel/auth/jwt.ts";
import type { Identity } from "../../src/kernel/identity.ts";
import { accountModule } from "../../src/modules/account/module.ts";
import { DATABASES, usePostgres } from "../helpers/databases.ts";
import { startModules, TEST_JWT_SECRET, type ModuleHarness } from "../helpers/modules.ts";

/**
 * Authorization in the account module: roles, the first admin from ADMIN_EMAIL/ADMIN_PASSWORD
 * (idempotent, safe against a pre-registered e-mail), and the private fields `email`/`roles`
 * (the account itself, the caller who just registered/logged in, admins; others get null +
 * FORBIDDEN with the rest of the response intact).
 */

usePostgres();

/** Hooks default to 5 s whatever bunfig's timeout says; starting PostgreSQL on a busy machine takes longer. */
const HOOK_TIMEOUT_MS = 60_000;

// Data dirs of harnesses restarted on the same data (their stop() leaves the dir in place).
const keptDirs: string[] = [];
afterAll(() => {
  for (const d of keptDirs) rmSync(d, { recursive: true, force: true });
});

const PASSWORD = "correct horse battery staple";
const ADMIN_PASSWORD = "admin password 123";
const REGISTER = `mutation R($input: RegisterInput!) { register(input: $input) { token account { id name email roles } } }`;
const LOGIN = `mutation L($email: String!, $password: String!) { login(email: $email, password: $password) { token account { id email roles } } }`;

interface Err {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string };
}

for (const db of DATABASES)
  describe(`account authorization [${db}]`, () => {
    let seq = 0;
    const email = (prefix: string): string => `${prefix}.${++seq}@example.com`;

    describe("private fields", () => {
      let h: ModuleHarness;
      let alice: { id: string; email: string };
      let bob: { id: string; email: string };
      const adminId: Identity = { accountId: "some-admin", roles: ["customer", "admin"] };
      const as = (id: string): Identity => ({ accountId: id, roles: ["customer"] });
      const register = async (name: string): Promise<{ id: string; email: string; roles: string[] }> => {
        const r = await h.query<{ register: { account: { id: string; email: string; roles: string[] } } }>("account", REGISTER, {
          input: { name, email: email(name.toLowerCase()), password: PASSWORD },
        });
        expect(r.errors).toBeUndefined();
        return r.data?.register.account as { id: string; email: string; roles: string[] };
      };

      beforeAll(async () => {
        h = await startModules([accountModule], {}, { database: db });
        alice = await register("Alice");
        bob = await register("Bob");
      }, HOOK_TIMEOUT_MS);
      afterAll(() => h.stop(), HOOK_TIMEOUT_MS);

      test("register and login show email and roles to their (still anonymous) caller", async () => {
        const r = await h.query<{ register: { account: { email: string; roles: string[] } } }>("account", REGISTER, {
          input: { name: "Carol", email: email("carol"), password: PASSWORD },
        });
        expect(r.errors).toBeUndefined();
        expect(r.data?.register.account.roles).toEqual(["customer"]);
        const l = await h.query<{ login: { account: { id: string; email: string; roles: string[] } } }>("account", LOGIN, {
          email: alice.email,
          password: PASSWORD,
        });
        expect(l.errors).toBeUndefined();
        expect(l.data?.login.account).toEqual({ id: alice.id, email: alice.email, roles: ["customer"] });
      });

      test("the account itself reads its email and roles", async () => {
        const r = await h.query<{ account: { email: string; roles: string[] } }>(
          "account",
          `query($id: ID!) { account(id: $id) { email roles } }`,
          { id: alice.id },
          as(alice.id),
        );
        expect(r).toEqual({ data: { account: { email: alice.email, roles: ["customer"] } } });
      });

      test("another account: email and roles null with FORBIDDEN, the rest intact", async () => {
        const r = await h.query<{ a: { id: string; name: string; email: string | null; roles: string[] | null }; me: { email: string } }>(
          "account",
          `query($id: ID!) { a: account(id: $id) { id name email roles } me { email } }`,
          { id: bob.id },
          as(alice.id),
        );
        expect(r.data).toEqual({ a: { id: bob.id, name: "Bob", email: null, roles: null }, me: { email: alice.email } });
        const errors = (r.errors ?? []) as readonly Err[];
        expect(errors.map((e) => [e.extensions?.code, e.path])).toEqual([
          ["FORBIDDEN", ["a", "email"]],
          ["FORBIDDEN", ["a", "roles"]],
        ]);
      });

      test("anonymous: email is null with UNAUTHENTICATED; name still resolves", async () => {
        const r = await h.query<{ account: { name: string; email: string | null } }>(
          "account",
          `query($id: ID!) { account(id: $id) { name email } }`,
          { id: bob.id },
        );
        expect(r.data).toEqual({ account: { name: "Bob", email: null } });
        expect(((r.errors ?? []) as readonly Err[]).map((e) => e.extensions?.code)).toEqual(["UNAUTHENTICATED"]);
      });

      test("an admin reads any account's email, also through _entities", async () => {
        const r = await h.query<{ _entities: { email: string }[] }>(
          "account",
          `query($r: [_Any!]!) { _entities(representations: $r) { ... on Account { email } } }`,
          {
            r: [
              { __typename: "Account", id: alice.id },
              { __typename: "Account", id: bob.id },
            ],
          },
          adminId,
        );
        expect(r).toEqual({ data: { _entities: [{ email: alice.email }, { email: bob.email }] } });
      });

      test("_entities for another account hides only the private field", async () => {
        const r = await h.query<{ _entities: ({ name: string; email: string | null } | null)[] }>(
          "account",
          `query($r: [_Any!]!) { _entities(representations: $r) { ... on Account { name email } } }`,
          {
            r: [
              { __typename: "Account", id: alice.id },
              { __typename: "Account", id: bob.id },
            ],
          },
          as(alice.id),
        );
        expect(r.data?._entities).toEqual([
          { name: "Alice", email: alice.email },
          { name: "Bob", email: null },
        ]);
        expect(((r.errors ?? []) as readonly Err[]).map((e) => [e.extensions?.code, e.path])).toEqual([
          ["FORBIDDEN", ["_entities", 1, "email"]],
        ]);
      });
    });

    describe("first admin from ADMIN_EMAIL / ADMIN_PASSWORD", () => {
      const login = async (h: ModuleHarness, e: string, password: string) => {
        const r = await h.query<{ login: { token: string; account: { id: string; email: string; roles: string[] } } }>("account", LOGIN, {
          email: e,
          password,
        });
        if (r.errors?.length) throw new Error(JSON.stringify(r.errors));
        return r.data?.login as { token: string; account: { id: string; email: string; roles: string[] } };
      };

      test("created when missing (roles customer + admin, e-mail normalised); a restart changes nothing", async () => {
        const adminEmail = email("admin");
        const h1 = await startModules([accountModule], { adminEmail, adminPassword: ADMIN_PASSWORD }, { database: db });
        const keepData = { dataDir: h1.dataDir };
        keptDirs.push(h1.dataDir);
        const first = await login(h1, adminEmail, ADMIN_PASSWORD);
        expect(first.account.roles).toEqual(["customer", "admin"]);
        expect((await verifyToken(TEST_JWT_SECRET, first.token)).roles).toEqual(["customer", "admin"]);
        const pg = h1.postgresUrl;
        await h1.kernel.stop();
        await h1.bus.close();

        // Same database, started again with the same settings: same account, one admin role.
        const h2 = await startModules(
          [accountModule],
          { ...keepData, adminEmail, adminPassword: ADMIN_PASSWORD },
          { database: db, ...(pg ? { postgresUrl: pg } : {}) },
        );
        try {
          const again = await login(h2, adminEmail, ADMIN_PASSWORD);
          expect(again.account).toEqual(first.account);
        } finally {
          await h2.stop();
        }
      });

      test("an existing customer with ADMIN_PASSWORD as its password is granted admin", async () => {
        const adminEmail = email("promoted");
        const h1 = await startModules([accountModule], {}, { database: db });
        const reg = await h1.query<{ register: { account: { id: string; roles: string[] } } }>("account", REGISTER, {
          input: { name: "Soon Admin", email: adminEmail, password: ADMIN_PASSWORD },
        });
        expect(reg.data?.register.account.roles).toEqual(["customer"]);
        const pg = h1.postgresUrl;
        keptDirs.push(h1.dataDir);
        await h1.kernel.stop();
        await h1.bus.close();
        const h2 = await startModules(
          [accountModule],
          { dataDir: h1.dataDir, adminEmail, adminPassword: ADMIN_PASSWORD },
          { database: db, ...(pg ? { postgresUrl: pg } : {}) },
        );
        try {
          const l = await login(h2, adminEmail, ADMIN_PASSWORD);
          expect(l.account).toEqual({ id: reg.data?.register.account.id as string, email: adminEmail, roles: ["customer", "admin"] });
        } finally {
          await h2.stop();
        }
      });

      test("an existing account with another password is not promoted: start fails with a clear error", async () => {
        const adminEmail = email("squatter");
        const h1 = await startModules([accountModule], {}, { database: db });
        await h1.query("account", REGISTER, { input: { name: "Squatter", email: adminEmail, password: "someone else's pw" } });
        const pg = h1.postgresUrl;
        keptDirs.push(h1.dataDir);
        await h1.kernel.stop();
        await h1.bus.close();
        const started = startModules(
          [accountModule],
          { dataDir: h1.dataDir, adminEmail, adminPassword: ADMIN_PASSWORD },
          { database: db, ...(pg ? { postgresUrl: pg } : {}) },
        );
        await expect(started).rejects.toThrow(/ADMIN_EMAIL .* password is not ADMIN_PASSWORD/);
        // Nothing was granted.
        const h3 = await startModules([accountModule], { dataDir: h1.dataDir }, { database: db, ...(pg ? { postgresUrl: pg } : {}) });
        try {
          expect((await login(h3, adminEmail, "someone else's pw")).account.roles).toEqual(["customer"]);
        } finally {
          await h3.stop();
        }
      });
    });
  });
