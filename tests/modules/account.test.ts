import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import type { DatabaseConfig } from "../../src/kernel/module.ts";
import { openDatabase } from "../../src/kernel/storage/database.ts";
import { migrate } from "../../src/kernel/storage/migrate.ts";
import { verifyToken } from "../../src/kernel/auth/jwt.ts";
import type { Msg } from "../../src/kernel/bus/types.ts";
import type { Identity } from "../../src/kernel/identity.ts";
import { newId } from "../../src/kernel/ids.ts";
import { AccountEvents, type AccountRegisteredEvent } from "../../src/modules/account/contract/index.ts";
import { accountModule } from "../../src/modules/account/module.ts";
import { ACCOUNT_MIGRATIONS } from "../../src/modules/account/storage/migrations.ts";
import { DATABASES, freshPostgresDatabase, openProbe, usePostgres, type DbProbe } from "../helpers/databases.ts";
import { startModules, TEST_JWT_SECRET, type ModuleHarness } from "../helpers/modules.ts";
import { eventually } from "../helpers/eventually.ts";

/** The account module's GraphQL API: registration, login, tokens, `me`, entity resolution. */

interface Account {
  id: string;
  name: string;
  email: string;
  roles: string[];
  createdAt: string;
}
interface AuthPayload {
  token: string;
  account: Account;
}

const ACCOUNT = "id name email roles createdAt";
const REGISTER = `mutation R($input: RegisterInput!) { register(input: $input) { token account { ${ACCOUNT} } } }`;
const LOGIN = `mutation L($email: String!, $password: String!) { login(email: $email, password: $password) { token account { ${ACCOUNT} } } }`;
const PASSWORD = "correct horse battery staple";

usePostgres();

for (const db of DATABASES)
  describe(`account [${db}]`, () => {
    let h: ModuleHarness;
    const events: { event: AccountRegisteredEvent; headers: Record<string, string> }[] = [];
    let seq = 0;
    const email = (prefix = "user"): string => `${prefix}.${++seq}@example.com`;
    const asUser = (accountId: string): Identity => ({ accountId, roles: ["customer"] });

    async function gql<T>(query: string, variables?: Record<string, unknown>, identity?: Identity): Promise<T> {
      const r = await h.query<T>("account", query, variables, identity);
      if (r.errors?.length) throw new Error(JSON.stringify(r.errors));
      return r.data as T;
    }
    /** The error of a failing operation (asserting there is exactly one). */
    async function failure(
      query: string,
      variables?: Record<string, unknown>,
      identity?: Identity,
    ): Promise<{ message: string; code: unknown; details: Record<string, unknown> }> {
      const r = await h.query("account", query, variables, identity);
      expect(r.errors?.length).toBe(1);
      const e = r.errors?.[0];
      return { message: e?.message ?? "", code: e?.extensions?.["code"], details: (e?.extensions ?? {}) as Record<string, unknown> };
    }
    const register = async (input: { name: string; email: string; password: string }): Promise<AuthPayload> =>
      (await gql<{ register: AuthPayload }>(REGISTER, { input })).register;
    const login = async (e: string, password: string): Promise<AuthPayload> =>
      (await gql<{ login: AuthPayload }>(LOGIN, { email: e, password })).login;

    /** Second connection to the module's database. */
    let probe: DbProbe;
    const accountRows = async (): Promise<number> => (await probe.get<{ n: number }>("SELECT count(*) AS n FROM accounts"))?.n ?? -1;

    beforeAll(async () => {
      h = await startModules([accountModule], {}, { database: db });
      probe = openProbe(h.database("account"));
      h.bus.subscribe(AccountEvents.registered, (m: Msg) => {
        events.push({ event: m.json<AccountRegisteredEvent>(), headers: m.headers });
      });
    });
    afterAll(async () => {
      await probe.close();
      await h.stop();
    });

    describe("register", () => {
      test("creates the account, normalises the e-mail and returns a token for it", async () => {
        const r = await register({ name: "  Ada Lovelace ", email: "  Ada.Lovelace@Example.COM ", password: PASSWORD });
        expect(r.account).toMatchObject({ name: "Ada Lovelace", email: "ada.lovelace@example.com", roles: ["customer"] });
        expect(r.account.id).toMatch(/^[0-9A-Za-z]{27}$/);
        expect(Math.abs(Date.parse(r.account.createdAt) - Date.now())).toBeLessThan(10_000);
        const identity = await verifyToken(TEST_JWT_SECRET, r.token);
        // The access token belongs to a new session (its refresh-token family).
        expect(identity).toEqual({ accountId: r.account.id, roles: ["customer"], sessionId: expect.stringMatching(/^[0-9A-Za-z]{27}$/) });
      });

      test("publishes account.registered with the request id", async () => {
        const e = email("event");
        const r = await register({ name: "Evt", email: e, password: PASSWORD });
        await eventually("events.some((x) => x.event.accountId === r.account.id)", () =>
          events.some((x) => x.event.accountId === r.account.id),
        );
        const got = events.find((x) => x.event.accountId === r.account.id);
        expect(got?.event).toEqual({
          eventId: expect.stringMatching(/^[0-9A-Za-z]{27}$/),
          accountId: r.account.id,
          email: e,
          name: "Evt",
          occurredAt: r.account.createdAt,
        });
        expect(got?.headers["sy-request-id"]).toBe("test");
        expect(got?.headers["sy-identity"]).toBeUndefined();
      });

      test("the password is stored as an argon2id hash, never in clear", async () => {
        const e = email("hash");
        const r = await register({ name: "Hash", email: e, password: PASSWORD });
        const row = await probe.get<{ password_hash: string }>("SELECT password_hash FROM accounts WHERE id = ?", r.account.id);
        expect(row?.password_hash).toStartWith("$argon2id$");
        expect(row?.password_hash).not.toContain(PASSWORD);
        expect(await Bun.password.verify(PASSWORD, row?.password_hash ?? "")).toBe(true);
        // No other column holds it either.
        const all = JSON.stringify(await probe.get("SELECT * FROM accounts WHERE id = ?", r.account.id));
        expect(all).toContain(r.account.id);
        expect(all).not.toContain(PASSWORD);
      });

      test("EMAIL_TAKEN for an existing e-mail, whatever its case and spacing", async () => {
        const e = email("dup");
        await register({ name: "First", email: e, password: PASSWORD });
        const before = await accountRows();
        const err = await failure(REGISTER, { input: { name: "Second", email: ` ${e.toUpperCase()} `, password: "another password" } });
        expect(err.code).toBe("EMAIL_TAKEN");
        expect(await accountRows()).toBe(before);
      });

      test("concurrent registrations of one e-mail: exactly one wins", async () => {
        const e = email("race");
        const results = await Promise.all(
          [0, 1, 2, 3].map((i) =>
            h.query<{ register: AuthPayload }>("account", REGISTER, { input: { name: `R${i}`, email: e, password: PASSWORD } }),
          ),
        );
        expect(results.filter((r) => r.data?.register).length).toBe(1);
        expect(results.flatMap((r) => (r.errors ?? []).map((x) => x.extensions?.["code"]))).toEqual([
          "EMAIL_TAKEN",
          "EMAIL_TAKEN",
          "EMAIL_TAKEN",
        ]);
      });

      test.each([
        ["malformed e-mail", { name: "X", email: "not-an-email", password: PASSWORD }, "email"],
        ["e-mail without a domain dot", { name: "X", email: "a@localhost", password: PASSWORD }, "email"],
        ["e-mail with a space", { name: "X", email: "a b@example.com", password: PASSWORD }, "email"],
        ["e-mail longer than 254", { name: "X", email: `${"a".repeat(250)}@example.com`, password: PASSWORD }, "email"],
        ["empty name", { name: "", email: "v1@example.com", password: PASSWORD }, "name"],
        ["blank name", { name: "   ", email: "v2@example.com", password: PASSWORD }, "name"],
        ["name of 101 characters", { name: "n".repeat(101), email: "v3@example.com", password: PASSWORD }, "name"],
        ["password of 7 characters", { name: "X", email: "v4@example.com", password: "1234567" }, "password"],
        ["password over 1024 characters", { name: "X", email: "v5@example.com", password: "p".repeat(1025) }, "password"],
      ])("BAD_USER_INPUT: %s; nothing stored", async (_label, input, field) => {
        const before = await accountRows();
        const err = await failure(REGISTER, { input });
        expect(err.code).toBe("BAD_USER_INPUT");
        expect(err.details["field"]).toBe(field);
        expect(await accountRows()).toBe(before);
      });

      test("limits are inclusive: 100-character name, 8-character password", async () => {
        const r = await register({ name: "n".repeat(100), email: email("limits"), password: "12345678" });
        expect(r.account.name).toHaveLength(100);
      });
    });

    describe("login", () => {
      let acc: AuthPayload;
      let address: string;
      beforeAll(async () => {
        address = email("login");
        acc = await register({ name: "Grace Hopper", email: address, password: PASSWORD });
      });

      test("returns a token for the account; e-mail is case-insensitive", async () => {
        const r = await login(`  ${address.toUpperCase()}`, PASSWORD);
        expect(r.account.id).toBe(acc.account.id);
        expect(r.account.email).toBe(address);
        const identity = await verifyToken(TEST_JWT_SECRET, r.token);
        expect(identity.accountId).toBe(acc.account.id);
        expect(identity.roles).toEqual(["customer"]);
      });

      test("a token from another secret does not verify", async () => {
        const r = await login(address, PASSWORD);
        await expect(verifyToken("another-secret-another-secret-0123456789", r.token)).rejects.toThrow();
      });

      test("INVALID_CREDENTIALS with one message for a wrong password and an unknown e-mail", async () => {
        const wrong = await failure(LOGIN, { email: address, password: "wrong password" });
        const unknown = await failure(LOGIN, { email: email("nobody"), password: PASSWORD });
        const empty = await failure(LOGIN, { email: address, password: "" });
        expect([wrong.code, unknown.code, empty.code]).toEqual(["INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "INVALID_CREDENTIALS"]);
        expect(wrong.message).toBe(unknown.message);
        expect(wrong.message).not.toContain(address);
      });

      test("an unknown e-mail costs a hash verification too (no fast path to probe addresses)", async () => {
        const time = async (e: string): Promise<number> => {
          const t0 = performance.now();
          await h.query("account", LOGIN, { email: e, password: "wrong password" });
          return performance.now() - t0;
        };
        // Median of a few runs each; argon2id verification takes milliseconds, a SELECT microseconds.
        const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
        const known: number[] = [];
        const unknown: number[] = [];
        for (let i = 0; i < 5; i++) {
          known.push(await time(address));
          unknown.push(await time(email("ghost")));
        }
        expect(median(unknown)).toBeGreaterThan(median(known) / 3);
      });
    });

    describe("me and account", () => {
      let acc: AuthPayload;
      beforeAll(async () => {
        acc = await register({ name: "Me Myself", email: email("me"), password: PASSWORD });
      });

      test("me returns the caller's account", async () => {
        const r = await gql<{ me: Account }>(`{ me { ${ACCOUNT} } }`, {}, asUser(acc.account.id));
        expect(r.me).toEqual(acc.account);
      });

      test("me without identity is UNAUTHENTICATED", async () => {
        const err = await failure("{ me { id } }");
        expect(err.code).toBe("UNAUTHENTICATED");
      });

      test("me for an identity whose account does not exist is null", async () => {
        const r = await gql<{ me: Account | null }>("{ me { id } }", {}, asUser(newId()));
        expect(r.me).toBeNull();
      });

      test("account(id) returns the account, null when unknown", async () => {
        const q = `query A($id: ID!) { account(id: $id) { ${ACCOUNT} } }`;
        expect((await gql<{ account: Account }>(q, { id: acc.account.id }, asUser(acc.account.id))).account).toEqual(acc.account);
        expect((await gql<{ account: Account | null }>(q, { id: newId() })).account).toBeNull();
      });
    });

    describe("federation", () => {
      test("_entities resolves Account references, null for unknown ids", async () => {
        const acc = await register({ name: "Entity", email: email("entity"), password: PASSWORD });
        const missing = newId();
        const r = await gql<{ _entities: (Account | null)[] }>(
          `query E($r: [_Any!]!) { _entities(representations: $r) { ... on Account { ${ACCOUNT} } } }`,
          {
            r: [
              { __typename: "Account", id: acc.account.id },
              { __typename: "Account", id: missing },
            ],
          },
          asUser(acc.account.id),
        );
        expect(r._entities).toEqual([acc.account, null]);
      });

      test("_service.sdl is the federation SDL with the Account key", async () => {
        const r = await gql<{ _service: { sdl: string } }>("{ _service { sdl } }");
        expect(r._service.sdl).toMatch(/type Account\s+@key\(fields: "id"\)/);
        expect(r._service.sdl).toContain("union _Entity = Account");
        expect(r._service.sdl).not.toContain("password_hash");
      });
    });

    describe("storage and start", () => {
      test("migrations are idempotent on the module's database and on a fresh one", async () => {
        const config = h.database("account");
        const dir = mkdtempSync(join(tmpdir(), "switchyard-account-"));
        const fresh: DatabaseConfig =
          config.kind === "sqlite"
            ? { kind: "sqlite", path: join(dir, "fresh.sqlite") }
            : { kind: "postgres", url: await freshPostgresDatabase(), poolMax: 1 };
        try {
          for (const [target, expected] of [
            [config, []],
            [fresh, ACCOUNT_MIGRATIONS.map((m) => m.version)],
          ] as const) {
            const mdb = openDatabase(target);
            try {
              expect(await migrate(mdb, ACCOUNT_MIGRATIONS)).toEqual([...expected]);
              expect(await migrate(mdb, ACCOUNT_MIGRATIONS)).toEqual([]);
            } finally {
              await mdb.close();
            }
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });

      test("the database rejects a second row with the same e-mail (constraint, not just code)", async () => {
        const dir = mkdtempSync(join(tmpdir(), "switchyard-account-"));
        const mdb = openDatabase(
          db === "sqlite"
            ? { kind: "sqlite", path: join(dir, "unique.sqlite") }
            : { kind: "postgres", url: await freshPostgresDatabase(), poolMax: 1 },
        );
        try {
          await migrate(mdb, ACCOUNT_MIGRATIONS);
          const insert = () =>
            sql`INSERT INTO accounts (id, name, email, password_hash, created_at) VALUES (${newId()}, 'n', 'a@example.com', 'h', ${new Date().toISOString()})`.execute(
              mdb.db,
            );
          await insert();
          await expect(insert()).rejects.toThrow(db === "sqlite" ? /UNIQUE/ : /accounts_email_key/);
        } finally {
          await mdb.close();
          rmSync(dir, { recursive: true, force: true });
        }
      });
    });
  });

// Fails before any store is opened: the same with either database.
test("start fails without a JWT secret", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "switchyard-account-"));
  try {
    await expect(startModules([accountModule], { jwtSecret: undefined, dataDir })).rejects.toThrow(/JWT/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
